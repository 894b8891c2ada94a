"""Numbers, dates and flags as people read them, for every dashboard page: harm in whole days,
dates as dates, yes/no for flags, shares to three places; never a raw float or a Python `True`."""

from __future__ import annotations

import datetime as dt
import math
import re
from typing import Any

from jinja2 import Undefined

_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.+\-Z]*)?$")


def missing(v: Any) -> bool:
    return v is None or isinstance(v, Undefined) or (isinstance(v, float) and math.isnan(v))


def yesno(v: Any) -> str:
    """A flag: yes, no, or "not known" when the run does not say."""
    if missing(v):
        return "not known"
    if isinstance(v, str):
        return {"true": "yes", "false": "no"}.get(v.lower(), v)
    return "yes" if bool(v) else "no"


def date(v: Any) -> str:
    """A date as YYYY-MM-DD (an ISO timestamp at midnight or a date object alike)."""
    if missing(v):
        return ""
    if isinstance(v, (dt.date, dt.datetime)):
        return v.strftime("%Y-%m-%d")
    m = _ISO_DATE.match(str(v))
    return m.group(1) if m else str(v)


def days(v: Any) -> str:
    """Harm in whole days, with thousands separators."""
    if missing(v):
        return "not known"
    try:
        return f"{round(float(v)):,}"
    except (TypeError, ValueError):
        return str(v)


def decimal(v: Any, digits: int = 3) -> str:
    if missing(v):
        return "not known"
    try:
        return f"{float(v):,.{digits}f}"
    except (TypeError, ValueError):
        return str(v)


def value(v: Any) -> str:
    """Any cell: flags as yes/no, whole numbers as integers, other numbers to three places."""
    if isinstance(v, bool):
        return yesno(v)
    if missing(v):
        return "not known"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() else f"{v:,.3f}"
    return date(v) if isinstance(v, str) else str(v)


def install(env) -> None:
    env.filters.update(yesno=yesno, date=date, days=days, decimal=decimal, value=value)
