"""The code stays readable: no function of the package is over 60 lines (issue 13's rule)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "hiddennet"
MAX_LINES = 60


def long_functions(root: Path = PACKAGE, limit: int = MAX_LINES) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = node.end_lineno - node.lineno + 1
                if lines > limit:
                    out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_no_function_is_over_60_lines():
    assert long_functions() == []


def test_the_check_sees_a_long_function(tmp_path):
    """The walker counts a function's lines from `def` to its last line (nested ones too)."""
    body = "\n".join(f"        x{i} = {i}" for i in range(60))
    (tmp_path / "m.py").write_text(f"def short():\n    pass\n\n\ndef outer():\n    def inner():\n{body}\n", encoding="utf-8")
    found = long_functions(tmp_path)
    assert [f.split(" ")[1] for f in found] == ["outer", "inner"]
