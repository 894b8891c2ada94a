"""The `hiddennet` command (docs/cli.md). Results on stdout, progress on stderr, documented exit codes:
0 success, 2 input or settings that break the contract, 1 any other failure.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hiddennet.errors import HiddennetError, SettingsError, describe_failure
from hiddennet.fsio import private_dir, private_umask
from hiddennet.settings import load_settings

# Tracebacks never show local variables: they may hold a person's data.
app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find hidden exploitation networks in police records, score their harm, say whom to disrupt "
    "first, and safeguard every child found. Intelligence for review: not evidence and not a decision.",
)
err = Console(stderr=True, no_color="NO_COLOR" in os.environ, highlight=False)
out = Console(no_color="NO_COLOR" in os.environ, highlight=False, soft_wrap=True)

# The demo force: a quarter of a force (about 20,000 crime-offender-victim rows) runs every stage,
# stability reruns included, in about a minute on two cores; `--scale 1` is a whole force.
DEMO_SCALE = 0.25
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result summary as JSON for scripts.")]


def _progress():
    """A progress callback for pipeline stages; quiet when stderr is not a terminal."""
    if not err.is_terminal:
        return None
    status = {}

    def cb(stage: str, event: str, seconds: float) -> None:
        if event == "start":
            status["s"] = err.status(f"[bold]{stage}[/]…")
            status["s"].start()
        else:
            status["s"].stop()
            err.print(f"  {stage:<10} {seconds:8.2f} s")

    return cb


def _summary(manifest: dict, out_dir: Path, as_json: bool) -> None:
    tables = manifest["tables"]
    summary = {
        "out": str(out_dir),
        "as_of": manifest["as_of"],
        "manifest": str(out_dir / "manifest.json"),
        "tables": {k: v["rows"] for k, v in tables.items()},
        "quarantined": tables.get("quarantine", {}).get("rows", 0),
        "seconds": round(sum(manifest["stage_seconds"].values()), 2),
    }
    if as_json:
        out.print_json(json.dumps(summary))
        return
    out.print(f"hiddennet run as of {summary['as_of']} in {summary['seconds']} s")
    for name, n in summary["tables"].items():
        out.print(f"  {name:<22} {n:>12,} rows")
    out.print(f"outputs:  {out_dir / 'tables'}")
    out.print(f"manifest: {summary['manifest']}")


@app.command()
def generate(
    directory: Annotated[Path, typer.Argument(help="Folder to write the synthetic force extract into.")],
    scale: Annotated[float, typer.Option(help="1 is one force (about 80k full-table rows).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Same seed, same extract.")] = 1,
    dirty: Annotated[bool, typer.Option("--dirty", help="Add rows of every bad-input class.")] = False,
    fmt: Annotated[str, typer.Option("--format", help="csv or parquet.")] = "csv",
    as_json: JsonOpt = False,
    later_of: Annotated[
        Path | None,
        typer.Option("--later-of", help="Write a later extract of the force in this folder instead (CSV): the same "
                     "records plus --days more, with planted changes (planted_truth/later.json)."),
    ] = None,
    days: Annotated[int, typer.Option("--days", min=1, help="With --later-of: days of new records.")] = 7,
    duplicates: Annotated[float, typer.Option(
        help="Share of people named in crimes given 1-2 more person records (0 to 1; truth in "
        "planted_truth/duplicates.csv). 0: none.")] = 0.0,
    all_age: Annotated[bool, typer.Option(
        "--all-age", help="Also plant cross-profile perpetrators, county lines rings and hotspots (docs/all-age.md)."
    )] = False,
) -> None:
    """Write a synthetic force extract that follows the input contract; planted truth goes to a separate file."""
    from hiddennet.generate import generate_force

    if later_of is not None:
        from hiddennet.generate.later import generate_later

        try:
            truth = generate_later(directory, later_of, days=days)
        except ValueError as e:  # the message names the folder and what is missing, never a row
            raise SettingsError(str(e)) from None
        if as_json:
            out.print_json(json.dumps({k: truth[k] for k in ("previous", "previous_as_of", "as_of", "days")}))
        else:
            out.print(f"later extract (as of {truth['as_of']}) written to {directory}")
        return
    facts = generate_force(directory, scale=scale, seed=seed, dirty=dirty, fmt=fmt, duplicates=duplicates,
                           all_age=all_age)
    if as_json:
        out.print_json(json.dumps(facts, default=str))
    else:
        out.print(f"synthetic force written to {directory}")
        for k, v in facts.get("rows", {}).items():
            out.print(f"  {k:<16} {v:>12,} rows")


@app.command()
def run(
    input_dir: Annotated[Path, typer.Argument(help="Folder of the force's extracts.")],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the run's outputs.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Reference date YYYY-MM-DD (default: latest date in the extract).")
    ] = None,
    config: Annotated[Path | None, typer.Option("--config", help="TOML file of settings (docs/settings.md).")] = None,
    engine: Annotated[str | None, typer.Option("--engine", help="duckdb (default) or spark.")] = None,
    as_json: JsonOpt = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="If another run is writing the same --out, wait for it instead of exiting 2.")
    ] = False,
    history: Annotated[
        Path | None,
        typer.Option("--history", help="The force's run history (setting `history_dir`): stable group ids, "
                     "changes and alerts since the previous run; the run is registered in it."),
    ] = None,
) -> None:
    """Run the pipeline; write the tables of docs/tables.md and manifest.json.

    The run is written beside --out and swapped in whole when complete, so --out always holds one
    complete run; the audit, disclosure and user files of the previous run are carried over."""
    settings = load_settings(config, as_of=_parse_date(as_of), engine=engine,
                             history_dir=str(history) if history is not None else None)
    from hiddennet.pipeline import run_pipeline

    result = run_pipeline(input_dir, out_dir, settings, progress=_progress(), wait=wait)
    _summary(result.manifest, out_dir, as_json)


@app.command()
def demo(
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the demo force and its outputs.")
    ] = Path("hiddennet-demo"),
    scale: Annotated[
        float, typer.Option("--scale", min=0.01, max=40.0, help="Size of the demo force (1 = one force).")
    ] = DEMO_SCALE,
    as_json: JsonOpt = False,
    history: Annotated[
        Path | None, typer.Option("--history", help="Keep the demo's runs in this run history (as `run --history`).")
    ] = None,
) -> None:
    """Generate the built-in demo force, run the whole pipeline on it, write the report."""
    from hiddennet.generate import generate_force
    from hiddennet.pipeline import run_pipeline

    data = out_dir / "input"
    if err.is_terminal:
        err.print("generating the demo force…")
    generate_force(data, scale=scale, seed=1, dirty=True)
    settings = load_settings(history_dir=str(history) if history is not None else None)
    result = run_pipeline(data, out_dir / "run", settings, progress=_progress())
    report_path = _write_report(out_dir / "run")
    _summary(result.manifest, out_dir / "run", as_json)
    if not as_json:
        out.print(f"input:    {data}")
        out.print(f"report:   {report_path}")


def _write_report(run_dir: Path) -> Path:
    from hiddennet.report import write_report  # imported when asked for, as the other commands import theirs

    return write_report(run_dir)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    checksums: Annotated[
        bool,
        typer.Option("--checksums", help="Also check every file's SHA-256 against the manifest "
                     "(sizes are always checked)."),
    ] = False,
    area: Annotated[
        list[str] | None,
        typer.Option("--area", help="Write the problem profile of this local area instead, as "
                     "report-<area>.html (repeatable)."),
    ] = None,
    each_area: Annotated[
        bool,
        typer.Option("--each-area", help="Write one problem profile per local area of the run into a folder "
                     "(--out, default <run>/area-reports)."),
    ] = False,
    out_dir: Annotated[
        Path | None,
        typer.Option("--out", help="Folder for the area profiles (default: the run folder for --area, "
                     "<run>/area-reports for --each-area)."),
    ] = None,
) -> None:
    """Write the descriptive report (self-contained HTML, no network) from a run's outputs; with
    --area or --each-area, the problem profiles of local areas (docs/report-and-dashboard.md)."""
    _check_run(run_dir, checksums=checksums)
    if not area and not each_area:
        out.print(f"report: {_write_report(run_dir)}")
        return
    from hiddennet.report import slug, write_area_reports, write_report

    if out_dir is not None:
        private_dir(out_dir)
    for name in area or []:
        target = (out_dir / f"report-{slug(name)}.html") if out_dir is not None else None
        out.print(f"report ({name}): {write_report(run_dir, area=name, target=target)}")
    if each_area:
        for path in write_area_reports(run_dir, out_dir):
            out.print(f"report: {path}")


@app.command()
def serve(
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    host: Annotated[str, typer.Option(help="Address to listen on (localhost only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    tls_cert: Annotated[Path | None, typer.Option("--tls-cert", help="TLS certificate (PEM) to serve HTTPS.")] = None,
    tls_key: Annotated[Path | None, typer.Option("--tls-key", help="Private key (PEM) of --tls-cert.")] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option("--allowed-host", help="Host name the dashboard answers to (repeatable); "
                     "needed beyond loopback."),
    ] = None,
    insecure_no_tls: Annotated[
        bool, typer.Option("--insecure-no-tls", help="Allow plain HTTP beyond loopback (not for personal data; warns).")
    ] = False,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML file of settings (dashboard_* keys, docs/settings.md).")
    ] = None,
    oidc_issuer: Annotated[
        str | None, typer.Option("--oidc-issuer", help="OIDC issuer URL for single sign-on.")
    ] = None,
    oidc_client_id: Annotated[str | None, typer.Option("--oidc-client-id", help="OIDC client id.")] = None,
    oidc_redirect_url: Annotated[
        str | None, typer.Option("--oidc-redirect-url", help="OIDC redirect URL (ends in /auth/callback).")
    ] = None,
) -> None:
    """Start the dashboard for a run on localhost; every access is audited to <run>/audit.jsonl."""
    from hiddennet.serve import serve as _serve

    _check_run(run_dir)
    settings = load_settings(
        config, dashboard_oidc_issuer=oidc_issuer, dashboard_oidc_client_id=oidc_client_id,
        dashboard_oidc_redirect_url=oidc_redirect_url,
    )
    _serve(run_dir, host=host, port=port, tls_cert=tls_cert, tls_key=tls_key, allowed_hosts=allowed_host or (),
           insecure_no_tls=insecure_no_tls, settings=settings)


@app.command()
def referrals(
    run_dir: Annotated[Path, typer.Argument(help="A run's output folder.")],
    area: Annotated[str, typer.Option("--area", help="Local area whose safeguarding hub receives the pack.")],
    recipient: Annotated[str | None, typer.Option(help="Who receives the pack (default: the area's MASH).")] = None,
    actor: Annotated[
        str | None, typer.Option(help="Who makes the export, for the disclosure log (default: the logged-in user).")
    ] = None,
    as_json: JsonOpt = False,
    ledger: Annotated[
        Path | None,
        typer.Option(help="Folder of the referral ledger shared by successive runs (default: the run's "
                     "`referral_ledger` setting, else `referral-ledger` beside the run folder)."),
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Send everyone who may be shared, not only the new and the changed.")
    ] = False,
    bands: Annotated[
        str | None,
        typer.Option(help="Only these triage bands, comma-separated (e.g. `immediate,high`); default: all."),
    ] = None,
) -> None:
    """Write the referral pack for one local area's multi-agency safeguarding hub; the export is logged.

    Children are listed under Working Together 2018; adults only with a basis recorded in the
    force's `sharing_basis` input. People are sorted by triage band; only the new and the changed
    since the last pack to this area (the ledger) are sent, the unchanged counted."""
    from hiddennet.safeguard.referrals import write_referral_pack

    _check_run(run_dir)
    facts = write_referral_pack(run_dir, area=area, recipient=recipient or f"{area} MASH", actor=actor,
                                ledger=ledger, full=full,
                                bands=[b.strip() for b in bands.split(",") if b.strip()] if bands else None)
    if as_json:
        out.print_json(json.dumps(facts, default=str))
    else:
        for k, v in facts.items():
            out.print(f"{k}: {v}")


@app.command()
def history(
    directory: Annotated[Path, typer.Argument(help="The force's run history (setting `history_dir`).")],
    register: Annotated[
        Path | None, typer.Option("--register", help="Add this complete run folder to the history first.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """List the runs of a history in as_of order with their groups and lineage; --register adds a run.

    Ids are replayed in as_of order whenever a run is added, so they do not depend on the order the
    runs were registered in (docs/continuity.md)."""
    from hiddennet.continuity.history import check_history, history_summary, register as add_run

    check_history(directory)
    if register is not None:
        _check_run(register)
        add_run(directory, register)
    rows = history_summary(directory)
    if as_json:
        out.print_json(json.dumps(rows))
        return
    out.print(f"{len(rows)} run(s) in {directory}")
    for r in rows:
        kinds = ", ".join(f"{k} {n}" for k, n in r["lineage"].items())
        out.print(f"  {r['run_id']}  as of {r['as_of']}  {r['groups']:>6,} groups  {kinds}")


@app.command()
def diff(
    run_a: Annotated[Path, typer.Argument(help="The earlier run folder.")],
    run_b: Annotated[Path, typer.Argument(help="The later run folder.")],
    as_json: JsonOpt = False,
    parquet: Annotated[
        Path | None, typer.Option("--parquet", help="Also write every change as a `changes` table (owner-only).")
    ] = None,
) -> None:
    """What changed from RUN_A to RUN_B: new, grown, shrunk, merged, split and dissolved groups, rank and
    harm movers, nominals new in the network or in a dismantling order, people newly flagged (counted).

    Names are never printed; people newly flagged for safeguarding are only counted here (they are in
    the restricted table written with --parquet)."""
    from hiddennet.continuity.diff import diff_runs, summary
    from hiddennet.continuity.report import print_changes

    _check_run(run_a)
    _check_run(run_b)
    changes = diff_runs(run_a, run_b)
    if parquet is not None:
        import pyarrow.parquet as pq

        with private_umask():
            pq.write_table(changes, parquet)
    facts = summary(changes)
    if as_json:
        out.print_json(json.dumps(facts, default=str))
    else:
        print_changes(out, facts, str(run_a), str(run_b))


users_app = typer.Typer(no_args_is_help=True, help="Dashboard users of a run: add, remove, rotate a token, list.")
app.add_typer(users_app, name="users")
RunArg = Annotated[Path, typer.Argument(help="A run's output folder.")]
NameArg = Annotated[str, typer.Argument(help="The user's name (as shown in the audit log).")]


@users_app.command("add")
def users_add(
    run_dir: RunArg,
    name: NameArg,
    role: Annotated[str, typer.Option("--role", help="analyst, intelligence_officer or safeguarding_lead.")],
    area: Annotated[
        list[str] | None, typer.Option("--area", help="Local area of a safeguarding lead (repeatable).")
    ] = None,
) -> None:
    """Add (or replace) a user; their new token is printed once, on stdout, and never stored."""
    from hiddennet.serve.users import add_user

    _check_run(run_dir)
    print(add_user(run_dir, name, role, area or ()))


@users_app.command("remove")
def users_remove(run_dir: RunArg, name: NameArg) -> None:
    """Remove a user: their token and sessions stop working on the next request."""
    from hiddennet.serve.users import remove_user

    _check_run(run_dir)
    remove_user(run_dir, name)
    err.print("removed", markup=False)


@users_app.command("rotate")
def users_rotate(run_dir: RunArg, name: NameArg) -> None:
    """Give a user a new token (printed once); the old one and its sessions stop working at once."""
    from hiddennet.serve.users import rotate_token

    _check_run(run_dir)
    print(rotate_token(run_dir, name))


@users_app.command("list")
def users_list(run_dir: RunArg, as_json: JsonOpt = False) -> None:
    """Name, role and areas of each user (never a token or its hash)."""
    from hiddennet.serve.users import list_users

    _check_run(run_dir)
    users = list_users(run_dir)
    if as_json:
        out.print_json(json.dumps(users))
        return
    for u in users:
        out.print(f"{u['name']}\t{u['role']}\t{','.join(u['areas'])}", markup=False)


audit_app = typer.Typer(no_args_is_help=True, help="The run's hash-chained logs (audit.jsonl, disclosures.jsonl).")
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(run_dir: RunArg) -> None:
    """Check that audit.jsonl and disclosures.jsonl are intact: exit 0, or 2 naming the first broken line."""
    from hiddennet.auditlog import verify

    _check_run(run_dir)
    broken = False
    for name in ("audit.jsonl", "disclosures.jsonl"):
        ok, line, reason = verify(Path(run_dir) / name)
        if ok:
            out.print(f"{name}: intact ({reason})", markup=False)
        else:
            broken = True
            out.print(f"{name}: BROKEN at line {line}: {reason}", markup=False)
    if broken:
        raise typer.Exit(2)


def _check_run(run_dir: Path, *, checksums: bool = False) -> None:
    from hiddennet.rundir import open_run

    open_run(run_dir, checksums=checksums)  # a complete run (manifest and every file it lists), else exit 2


def _parse_date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        from hiddennet.errors import SettingsError

        raise SettingsError("--as-of: not an ISO date (YYYY-MM-DD)") from None


def main() -> None:
    """Entry point: run the app, map the exception family to exit codes, one line per error."""
    try:
        # Standalone mode: usage errors exit 2 and --help exits 0 the usual way. Everything this
        # process creates (run folders, reports, referral packs, logs) is owner-only.
        with private_umask():
            app()
    except HiddennetError as e:
        _fail(str(e), e.exit_code)
    except Exception as e:  # noqa: BLE001 - the contract is exit 1 with one line, not a traceback
        said = describe_failure(e)
        if os.environ.get("HIDDENNET_DEBUG"):
            import traceback

            traceback.print_exc()
        _fail(said or f"internal failure ({e.__class__.__name__}); set HIDDENNET_DEBUG=1 for a traceback", 1)


def _fail(message: str, code: int) -> None:
    # Plain print, one line: rich would wrap at 80 columns when stderr is not a terminal.
    print("error: " + " ".join(message.splitlines()), file=sys.stderr, flush=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
