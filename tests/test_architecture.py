"""Imports only run downward: docs/architecture.md's layer table, enforced on every import."""

from __future__ import annotations

import ast
from pathlib import Path

import psyprofile

SRC = Path(psyprofile.__file__).parent
DOC = Path(__file__).parents[1] / "docs" / "architecture.md"


def layers() -> dict[str, int]:
    """Subpackage -> layer, read from the table in docs/architecture.md (one source of truth)."""
    out: dict[str, int] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[0].isdigit():
            for name in cells[1].replace("`", "").split(","):
                out[name.strip()] = int(cells[0])
    return out


def subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "psyprofile" else None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported psyprofile subpackage) of every import in ``path``, also in functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "psyprofile":
                found += [(node.lineno, a.name) for a in node.names]
            elif (sub := subpackage(node.module)) is not None:
                found.append((node.lineno, sub))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, s) for a in node.names if (s := subpackage(a.name))]
    return found


def test_every_subpackage_has_a_layer():
    known = layers()
    subs = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    subs |= {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"}
    assert subs - set(known) == set(), "add these to the table in docs/architecture.md"


def test_imports_only_run_downward():
    known = layers()
    upward = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).parts
        if len(rel) == 1:  # the top-level package is the public API: it may load any layer
            continue
        own = rel[0] if len(rel) > 1 else rel[0][:-3]
        for line, sub in imports(path):
            if sub != own and sub in known and known[sub] > known[own]:
                upward.append(f"{path.relative_to(SRC)}:{line} imports {sub} "
                              f"(layer {known[sub]} > {own}'s {known[own]})")
    assert upward == []
