"""Lexicon files: CSV, LIWC-style ``.dic`` and DLATK SQLite tables, read into one shape.

A :class:`Lexicon` holds ``entries``, a pyarrow table ``(term, category, weight)``. In an
unweighted lexicon every weight is 1.0, so applying it counts words. Terms ending in
``*`` are wildcards (``abandon*`` matches ``abandon``, ``abandoned``, ...); they are
expanded against the 1gram vocabulary when the lexicon is applied
(:mod:`psyprofile.features.lexicon`), not here.
"""

from __future__ import annotations

import csv
import math
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from psyprofile.errors import InputError

ENTRY_SCHEMA = pa.schema([("term", pa.string()), ("category", pa.string()), ("weight", pa.float64())])
INTERCEPT = "_intercept"  # a term whose weight is a per-category constant, as in DLATK
MAX_SHOWN = 5  # bad lines quoted in one error message
_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-]+$")


@dataclass
class Lexicon:
    """A named set of (term, category, weight) entries with where it came from."""

    name: str
    weighted: bool
    entries: pa.Table  # ENTRY_SCHEMA; weight is 1.0 everywhere when not weighted
    licence: str = ""
    citation: str = ""
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def categories(self) -> list[str]:
        """Category names, sorted."""
        return sorted(set(self.entries.column("category").to_pylist()))

    @property
    def n_terms(self) -> int:
        """Distinct terms (``_intercept`` not counted)."""
        terms = pc.unique(self.entries.column("term")).to_pylist()
        return sum(t != INTERCEPT for t in terms)


def check_name(name: str, what: str = "lexicon name") -> str:
    """``name`` if it is safe in a table name (letters, digits, ``_ . -``), else an error."""
    if not _NAME_OK.match(name):
        raise InputError(
            f"{what} '{name}' may only hold letters, digits, '_', '.' and '-'; choose another."
        )
    return name


def make_lexicon(name: str, rows: Iterable[tuple[str, str, float]], weighted: bool,
                 **meta: str) -> Lexicon:
    """A :class:`Lexicon` from ``(term, category, weight)`` rows (weights set to 1.0 if unweighted)."""
    terms, cats, weights = [], [], []
    for t, c, w in rows:
        terms.append(t)
        cats.append(c)
        weights.append(float(w) if weighted else 1.0)
    table = pa.table([terms, cats, weights], schema=ENTRY_SCHEMA)
    return Lexicon(name=name, weighted=weighted, entries=table, **meta)


def _bad_rows_error(path: Path, problems: list[tuple[int, str]], fix: str) -> InputError:
    shown = "\n".join(f"  {path}:{line}: {msg}" for line, msg in problems[:MAX_SHOWN])
    more = f" (showing the first {MAX_SHOWN})" if len(problems) > MAX_SHOWN else ""
    return InputError(f"{path}: {len(problems)} bad lexicon rows{more}:\n{shown}\n{fix}")


def _default_name(path: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", path.stem)


def _read_text(path: Path) -> str:
    """The file's text: UTF-8 (with or without BOM), else Latin-1 as older LIWC files use."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the lexicon file ({exc.strerror}).") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def read_csv(path: str | Path, name: str | None = None) -> Lexicon:
    """Read a ``term,category[,weight]`` CSV (header row optional).

    Without a weight column the lexicon is unweighted. Every bad row (empty term or
    category, missing or non-numeric weight, repeated (term, category)) is collected and
    reported in one :class:`InputError` naming ``file:line``.
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    reader = csv.reader(lines)
    rows: list[tuple[int, list[str]]] = [(i + 1, r) for i, r in enumerate(reader) if any(f.strip() for f in r)]
    if not rows:
        raise InputError(f"{path}: the lexicon file is empty; it needs rows of term,category[,weight].")
    first = [f.strip().lower() for f in rows[0][1]]
    has_header = first[:2] == ["term", "category"]
    n_cols = len(first) if has_header else len(rows[0][1])
    weighted = n_cols >= 3
    if has_header:
        rows = rows[1:]
    problems: list[tuple[int, str]] = []
    seen: dict[tuple[str, str], int] = {}
    out: list[tuple[str, str, float]] = []
    for line, fields in rows:
        term = fields[0].strip() if fields else ""
        cat = fields[1].strip() if len(fields) > 1 else ""
        if not term:
            problems.append((line, "empty term"))
            continue
        if not cat:
            problems.append((line, f"empty category for term '{term}'"))
            continue
        weight = 1.0
        if weighted:
            raw = fields[2].strip() if len(fields) > 2 else ""
            if not raw:
                problems.append((line, f"missing weight for term '{term}'"))
                continue
            try:
                weight = float(raw)
            except ValueError:
                problems.append((line, f"weight '{raw}' is not a number"))
                continue
            if not math.isfinite(weight):
                problems.append((line, f"weight '{raw}' is not a finite number"))
                continue
        key = (term, cat)
        if key in seen:
            problems.append((line, f"duplicate of line {seen[key]} (term '{term}', category '{cat}')"))
            continue
        seen[key] = line
        out.append((term, cat, weight))
    if problems:
        raise _bad_rows_error(
            path, problems,
            "Fix these rows (each needs a term, a category and, if the file has a weight "
            "column, a numeric weight; each (term, category) once) and load the lexicon again.",
        )
    return make_lexicon(name or _default_name(path), out, weighted, source=str(path))


def read_dic(path: str | Path, name: str | None = None) -> Lexicon:
    """Read a LIWC-style ``.dic``: a ``%``-delimited header of ``number<TAB>category``
    lines, then ``term<TAB>number number ...`` lines. Unweighted; ``*`` terms are wildcards.
    """
    path = Path(path)
    lines = _read_text(path).splitlines()
    marks = [i for i, ln in enumerate(lines) if ln.strip() == "%"]
    if len(marks) < 2:
        raise InputError(
            f"{path}: not a LIWC-style .dic file: it needs a header of category numbers and "
            "names between two lines holding only '%'."
        )
    problems: list[tuple[int, str]] = []
    cats: dict[str, str] = {}
    for i in range(marks[0] + 1, marks[1]):
        parts = lines[i].split()
        if not parts:
            continue
        if len(parts) < 2:
            problems.append((i + 1, f"header line '{lines[i].strip()}' needs a number and a category name"))
            continue
        cats[parts[0]] = parts[1]
    out: list[tuple[str, str, float]] = []
    seen: set[tuple[str, str]] = set()
    for i in range(marks[1] + 1, len(lines)):
        text = lines[i].strip()
        if not text:
            continue
        # Terms may hold spaces when fields are tab-separated (LIWC 2015 phrases).
        parts = text.split("\t") if "\t" in text else text.split()
        term, nums = parts[0].strip(), " ".join(parts[1:]).split()
        if not nums:
            problems.append((i + 1, f"term '{term}' has no category numbers"))
            continue
        unknown = [n for n in nums if n not in cats]
        if unknown:
            problems.append((i + 1, f"category number(s) {', '.join(unknown)} not in the header"))
            continue
        for n in nums:
            if (term, cats[n]) not in seen:
                seen.add((term, cats[n]))
                out.append((term, cats[n], 1.0))
    if problems:
        raise _bad_rows_error(
            path, problems,
            "Fix these lines (header: 'number<TAB>name'; body: 'term<TAB>number ...' using "
            "numbers from the header) and load the lexicon again.",
        )
    return make_lexicon(name or _default_name(path), out, weighted=False, source=str(path))


def read_dlatk_table(db_path: str | Path, table: str, name: str | None = None,
                     weighted: bool | None = None) -> Lexicon:
    """Read a DLATK lexicon table ``(id, term, category[, weight])`` from a SQLite file.

    ``weighted=None`` means: weighted if the table has a weight column whose values are
    not all 1. Rows with an empty term or category are skipped (DLATK skips them too) and
    counted in ``notes``.
    """
    db_path = Path(db_path)
    if not db_path.is_file():
        raise InputError(f"{db_path}: no such SQLite file; check the path of the lexicon database.")
    try:
        con = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise InputError(f"{db_path}: cannot open as SQLite ({exc}).") from None
    try:
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        except sqlite3.DatabaseError as exc:
            raise InputError(f"{db_path}: not a SQLite database ({exc}).") from None
        if table not in tables:
            have = ", ".join(sorted(t for t in tables if t != "sqlite_sequence")) or "none"
            raise InputError(f"{db_path}: no table '{table}'. Tables there: {have}.")
        cols = [r[1].lower() for r in con.execute(f'PRAGMA table_info("{table}")')]
        if not {"term", "category"} <= set(cols):
            raise InputError(
                f"{db_path}: table '{table}' has columns {', '.join(cols)}; a DLATK lexicon "
                "table needs term and category (and weight, if weighted)."
            )
        wcol = "weight" if "weight" in cols else "1.0"
        rows = con.execute(f'SELECT term, category, {wcol} FROM "{table}" ORDER BY rowid').fetchall()
    finally:
        con.close()
    kept, skipped = [], 0
    for term, cat, w in rows:
        term, cat = (term or "").strip(), (cat or "").strip()
        if not term or not cat:
            skipped += 1
            continue
        kept.append((term, cat, 1.0 if w is None else float(w)))
    if weighted is None:
        weighted = any(w != 1.0 for _, _, w in kept)
    lex = make_lexicon(name or table, kept, weighted, source=f"{db_path}:{table}")
    if skipped:
        lex.notes.append(f"{skipped:,} rows with an empty term or category skipped")
    return lex


def read_lexicon_file(spec: str | Path, name: str | None = None) -> Lexicon:
    """Read ``spec``: ``file.csv``, ``file.dic``, ``file.json`` (trait letters to {term:
    weight}, as the npm package ``bigfive``; see :mod:`psyprofile.lexica.wwbp`), or
    ``file.db:table`` (DLATK SQLite)."""
    text = str(spec)
    m = re.match(r"^(.*\.(?:db|sqlite|sqlite3)):([^:/\\]+)$", text)
    if m:
        return read_dlatk_table(m.group(1), m.group(2), name=name)
    path = Path(text)
    suffix = path.suffix.lower()
    if suffix in (".db", ".sqlite", ".sqlite3"):
        raise InputError(f"{path}: name the table too, as '{path}:TABLE'.")
    if not path.is_file():
        raise InputError(f"{path}: no such lexicon file.")
    if suffix == ".csv":
        return read_csv(path, name)
    if suffix == ".dic":
        return read_dic(path, name)
    if suffix == ".json":
        from psyprofile.lexica.wwbp import read_bigfive_json

        return read_bigfive_json(path, name or _default_name(path))
    raise InputError(f"{path}: unknown lexicon format '{suffix}'; use .csv, .dic, .json (the "
                     "bigfive package's shape) or FILE.db:TABLE.")


def write_csv(lexicon: Lexicon, path: str | Path) -> int:
    """Write ``lexicon`` as CSV readable by :func:`read_csv` (no weight column if
    unweighted); returns the rows written."""
    path = Path(path)
    cols = ["term", "category", "weight"] if lexicon.weighted else ["term", "category"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        values = [lexicon.entries.column(c).to_pylist() for c in cols]
        for row in zip(*values, strict=True):
            w.writerow([*row[:2], *(repr(float(x)) for x in row[2:])])
    return lexicon.entries.num_rows
