"""Refusals and failures as plain pages (or JSON under /api/), each audited with its own outcome:
401/403 denied, 404 not found, 422 rejected input (never FastAPI's raw JSON, never "allowed")."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from hiddennet.report.data import TableUnreadable
from hiddennet.serve.context import Denied, dash
from hiddennet.serve.data import NotFound


async def on_denied(request: Request, exc: Denied) -> Response:
    if not exc.signed_in:
        return dash(request).error(request, 401, "Sign in to see this page.")
    return dash(request).error(request, 403, "Your role does not give access to this page.")


async def on_not_found(request: Request, exc: NotFound) -> Response:
    request.state.audit["outcome"] = "not_found"
    return dash(request).error(request, 404, "Not found in this run.")


async def on_unreadable(request: Request, exc: TableUnreadable) -> Response:
    # A table of the run that cannot be read: the pages that read it fail, the others still serve.
    request.state.audit["outcome"] = "error"
    request.state.audit["detail"] = "table_unreadable"
    return dash(request).error(request, 503, f"This page is not available in this run ({exc}).")


async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
    # The validation detail echoes the submitted values: it is neither shown nor logged.
    request.state.audit["outcome"] = "rejected_input"
    request.state.audit["detail"] = ",".join(sorted({str(e.get("loc", ("?",))[-1]) for e in exc.errors()}))[:200]
    return dash(request).error(request, 422, "The request could not be understood: a parameter has the wrong form.")


async def on_http(request: Request, exc: StarletteHTTPException) -> Response:
    message = "Not found." if exc.status_code == 404 else "The request could not be served."
    return dash(request).error(request, exc.status_code, message)


def install(app: FastAPI) -> None:
    app.add_exception_handler(Denied, on_denied)  # type: ignore[arg-type]
    app.add_exception_handler(NotFound, on_not_found)  # type: ignore[arg-type]
    app.add_exception_handler(TableUnreadable, on_unreadable)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]
