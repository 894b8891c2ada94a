"""What a stage is: a name, the tables it reads and writes, and one `run(engine, settings, ctx)`.

Every stage module declares its `STAGE`; `pipeline.py` runs them in order, and a checking engine
(hiddennet/engine/checking.py, used by the tests) fails a stage that reads a table it did not
declare or leaves a declared table unwritten. Table names are those of the registry
(hiddennet/tables.py); `tables.table(name).sql_name` is the name in the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from hiddennet.engine.base import Engine
    from hiddennet.settings import Settings

# Written on every output table (Parquet metadata), page and report.
NOTICE = "Intelligence for review: not evidence and not a decision"


@dataclass
class StageOutput:
    """Tables a stage created in the engine (by name) and facts about them for manifest.json.

    Facts are counts, settings-derived figures and data gaps: never a person's data.
    """

    tables: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)


# rerun(base settings, variant settings, scope) -> members of the ranked groups (fairness stability).
Rerun = Callable[["Settings", "Settings", str], "pa.Table"]
# engine_factory(settings) -> a new engine of the kind the settings ask for (a worker's own engine).
EngineFactory = Callable[["Settings"], "Engine"]


@dataclass
class StageContext:
    """What some stages need besides the engine and the settings.

    `input_dir`: the force's extracts (ingest, publish); `out_dir`: the run folder (publish);
    `outputs` and `timings`: what the stages so far returned and took (publish writes them to the
    manifest); `rerun`: reruns layers..harm with other settings in a scratch namespace (fairness);
    `rerun_stages`: the same as a picklable module-level function of (engine, base, variant, scope),
    so that fairness can run the reruns in worker processes; `engine_factory`: makes those workers'
    own engines (picklable; the pipeline gives `hiddennet.engine.make_engine`), since a stage never
    makes or imports an engine itself. Without it, fairness runs its reruns one after another.
    `tables_final`: called by publish once the run's tables are final, before it writes any file,
    so that the pipeline can copy them into the run's database meanwhile.
    """

    input_dir: Path
    out_dir: Path
    outputs: dict[str, StageOutput] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    rerun: Rerun | None = None
    rerun_stages: Callable[..., Any] | None = None
    engine_factory: EngineFactory | None = None
    tables_final: Callable[[], None] | None = None


@dataclass(frozen=True)
class Stage:
    """A stage's declaration. `reads` must exist; `optional_reads` may be missing (the stage checks
    with `engine.has_table`); `writes` are the registered tables it creates, all of them, every run.
    `resolves`: settings the stage fixes for the stages after it, taken from its facts (ingest: as_of).

    Scratch tables (a name starting with `_`) are the stage's own: it may create, read and drop
    those it created itself; it may not read another stage's.
    """

    name: str
    run: Callable[[Engine, Settings, StageContext], StageOutput]
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    optional_reads: tuple[str, ...] = ()
    resolves: tuple[str, ...] = ()


def is_scratch(table: str) -> bool:
    """A stage's scratch table (never read by another stage, never published)."""
    return table.startswith("_")


@contextmanager
def stage_errors(engine: Engine, stage: str) -> Iterator[None]:
    """Turn an engine failure inside `stage` into a StageError naming the stage and the table.

    Only the error's class is kept, never its message (it can quote a row's value), and the
    original exception is not chained, so no traceback shows it either.
    """
    from hiddennet.errors import HiddennetError, StageError, describe_failure, engine_io_reason

    try:
        yield
    except HiddennetError:
        raise
    except engine.errors as e:
        if type(e).__name__ == "IOException" and engine_io_reason(str(e)):
            # A full disk or a refused folder is the machine's failure, not the stage's: the run
            # folder's writer (hiddennet.rundir) reports it with the folder it could not write.
            raise
        error_class = f"{engine.name} {type(e).__name__}"
        # Out of memory and disk failures say what to do (never the engine's own text).
        detail = describe_failure(e)
        raise StageError(stage, engine.failed_table(), f"{error_class}: {detail}" if detail else error_class) from None


def run_stage(stage: Stage, engine: Engine, settings: Settings, ctx: StageContext) -> StageOutput:
    """Run one stage: its statements checked against its declaration (by a checking engine) and
    its engine failures reported once, naming the stage and the table."""
    with engine.in_stage(stage), stage_errors(engine, stage.name):
        return stage.run(engine, settings, ctx)
