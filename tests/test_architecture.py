"""Imports only run downward: docs/architecture.md's layer table, enforced on every import."""

from __future__ import annotations

import ast
import re
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


# --- the schema in one place (docs/architecture.md, "Tables and owners") -------------------

# Modules that may create tables at run time (``CREATE TABLE``; TEMP tables anywhere), and why.
DYNAMIC_DDL = {
    "store/schema.py": "the migrations",
    "features/store.py": "feature tables, one per set and level, and their staging tables",
    "features/occurrence.py": "filtered feature sets (features.store's naming and registry)",
    "features/topics.py": "a topic model's top words, one table per model",
    "features/embeddings.py": "vector caches, one per model runtime (embedding_caches)",
    "lexica/registry.py": "a stored lexicon's entries, one table per lexicon",
    "store/outcomes.py": "outcomes, whose columns are the researcher's",
    "datasets/blogs.py": "no DDL: it parses the CREATE TABLE statements of MySQL dumps",
    "api/migrations.py": "the REST service's own SQLite file (not a study), versioned",
}
DDL = re.compile(r"\bCREATE\s+(?:OR\s+REPLACE\s+)?TABLE\b", re.I)
CREATED = re.compile(r"\b(CREATE|DROP)\s+(?:OR\s+REPLACE\s+)?(?:TABLE|VIEW)\s+"
                     r"(?:IF\s+(?:NOT\s+)?EXISTS\s+)?(\w+)", re.I)


def strings(path: Path) -> list[tuple[int, str]]:
    """(line, text) of every string literal in ``path``, f-strings' literal parts included."""
    return [(n.lineno, n.value) for n in ast.walk(ast.parse(path.read_text(), str(path)))
            if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def stray_ddl(src: Path) -> list[str]:
    """``file:line`` of every CREATE TABLE outside :data:`DYNAMIC_DDL`'s modules."""
    return [f"{rel}:{line}" for path in sorted(src.rglob("*.py"))
            if (rel := path.relative_to(src).as_posix()) not in DYNAMIC_DDL
            for line, text in strings(path) if DDL.search(text)]


def migration_tables() -> dict[str, int]:
    """Table or view -> the migration (1-based) that created it, for those still there."""
    from psyprofile.store.schema import MIGRATIONS

    made: dict[str, int] = {}
    for number, sql in enumerate(MIGRATIONS, start=1):
        for verb, name in CREATED.findall(sql):
            if verb.upper() == "DROP":
                made.pop(name, None)
            else:
                made.setdefault(name, number)
    return made


def owner_rows() -> list[tuple[list[str], str, str]]:
    """(tables, owner module, migration) of each row of the "Tables and owners" tables
    (a dynamic row's fourth cell names its registry table)."""
    text = DOC.read_text().split("## Tables and owners", 1)[1]
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 3:
            rows.append((re.findall(r"`([^`]+)`", cells[0]), cells[1], cells[2]))
    return rows


def test_tables_are_created_only_by_migrations_and_dynamic_owners():
    assert stray_ddl(SRC) == [], ("create the table in a migration (store/schema.py) and name "
                                  "its owner in docs/architecture.md")


def test_the_check_finds_a_stray_create_table(tmp_path):
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "x.py").write_text(
        'def f(con, t):\n    con.execute(f"CREATE TABLE IF NOT EXISTS {t} (a INTEGER)")\n'
        '    con.execute("CREATE OR REPLACE TEMP TABLE _scratch AS SELECT 1")\n')
    assert stray_ddl(tmp_path) == ["analysis/x.py:2"]


def test_every_migration_table_has_an_owner_and_its_number():
    listed = {t: (owner, number) for tables, owner, number in owner_rows() for t in tables}
    made = migration_tables()
    assert {t: listed.get(t, ("no owner", "?"))[1] for t in made} == {
        t: str(n) for t, n in made.items()}
    assert {t for t, (_, n) in listed.items() if n != "dynamic"} == set(made)
    for owner, _ in listed.values():
        module = owner.split()[0].strip("`")
        assert (SRC / (module.replace(".", "/") + ".py")).is_file(), owner
