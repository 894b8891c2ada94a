"""What every stage returns: the tables it made and the facts the manifest records about them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Written on every output table (Parquet metadata), page and report.
NOTICE = "Intelligence for review: not evidence and not a decision"


@dataclass
class StageOutput:
    """Tables a stage created in the engine (by name) and facts about them for manifest.json.

    Facts are counts, settings-derived figures and data gaps: never a person's data.
    """

    tables: tuple[str, ...]
    facts: dict[str, Any] = field(default_factory=dict)
