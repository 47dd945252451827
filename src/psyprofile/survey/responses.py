"""Reading and validating a file of questionnaire responses.

One row per respondent, one column per item. Item columns are found, in this order, by

- the default names ``<inventory>_<n>`` (``ipip50_1`` .. ``ipip50_50``, ``mini-ipip_1`` ..,
  ``ipipneo120_1`` ..), ``n`` being the item's number in the published order;
- ``item_cols`` as a prefix: ``"Q"`` means columns ``Q1`` .. ``Q50``;
- ``item_cols`` as a mapping, inline ``"ipip50_1=Q1,ipip50_2=Q2,..."`` or a CSV/TSV file with
  columns ``item,column``; items not mapped keep their default names.

Answers must be whole numbers on the inventory's scale (1..5); an empty cell is an unanswered
item. Any other value (text, ``NA``, 0, 6, 2.5) is reported with its file, line and column,
and either stops the run (``invalid="error"``, the default) or is counted and treated as
unanswered (``invalid="missing"``). Rows without a respondent id and repeated ids are counted
and left out (the first row of a repeated id is kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from psyprofile.errors import InputError
from psyprofile.store.outcomes import read_table_file
from psyprofile.survey.inventories import Inventory

_SHOW = 5  # bad cells named in an error message; the rest are counted


@dataclass
class Responses:
    """Validated answers: ``answers`` is respondents × item ids (float, NaN = unanswered),
    indexed by the raw respondent id in file order."""

    file: str
    answers: pd.DataFrame
    rows: int
    no_user: int = 0
    duplicate_user: int = 0
    invalid: int = 0
    invalid_examples: list[str] = field(default_factory=list)
    unanswered: int = 0


def item_columns(inv: Inventory, item_cols: str | None) -> dict[str, str]:
    """Item id -> column of the file, from the defaults, a prefix or a mapping (see module doc)."""
    mapping = {i.id: i.id for i in inv.items}
    if item_cols:
        spec = item_cols.strip()
        path = Path(spec)
        if "=" in spec:
            pairs = [p.split("=", 1) for p in spec.split(",") if p.strip()]
            mapping.update({a.strip(): b.strip() for a, b in pairs})
        elif path.suffix.lower() in (".csv", ".tsv", ".tab", ".parquet"):
            table = read_table_file(path)  # names the file when it does not exist
            if not {"item", "column"} <= set(table.columns):
                raise InputError(
                    f"{path}: an item map needs the columns 'item' and 'column' "
                    f"(found {', '.join(map(str, table.columns))})."
                )
            mapping.update(dict(zip(table["item"].astype(str), table["column"].astype(str), strict=True)))
        else:
            mapping = {i.id: f"{spec}{n}" for n, i in enumerate(inv.items, 1)}
    unknown = sorted(set(mapping) - {i.id for i in inv.items})
    if unknown:
        raise InputError(
            f"--item-cols maps {', '.join(unknown[:5])}, which are not items of {inv.name} "
            f"(its items are {inv.items[0].id} .. {inv.items[-1].id})."
        )
    return mapping


def read_responses(path: str | Path, inv: Inventory, user_col: str, *,
                   item_cols: str | None = None, invalid: str = "error") -> Responses:
    """Read and validate the responses in ``path`` (CSV, TSV or Parquet) for inventory ``inv``."""
    path = Path(path)
    df = read_table_file(path)
    cols = list(map(str, df.columns))
    if user_col not in cols:
        raise InputError(
            f"{path}: no column '{user_col}' for the respondent id. Columns found: "
            f"{', '.join(cols[:12])}{' ...' if len(cols) > 12 else ''}. Name it with --user-col."
        )
    mapping = item_columns(inv, item_cols)
    absent = [c for c in mapping.values() if c not in cols]
    if absent:
        raise InputError(
            f"{path}: {len(absent)} of the {len(mapping)} item columns of {inv.name} are missing "
            f"(e.g. {', '.join(absent[:5])}). Name the columns {inv.items[0].id} .. "
            f"{inv.items[-1].id}, or map them with --item-cols PREFIX, "
            f"--item-cols '{inv.items[0].id}=Q1,...' or --item-cols map.csv (columns item,column)."
        )
    rows = len(df)
    ids = df[user_col].astype("string").str.strip()
    has_id = ids.notna() & (ids != "")
    dup = has_id & ids.duplicated(keep="first")
    keep = has_id & ~dup
    # Parquet gives the file's own row numbers; text files are numbered by line, header = 1.
    first_line = 1 if path.suffix.lower() == ".parquet" else 2
    where = "row" if path.suffix.lower() == ".parquet" else "line"
    lo, hi = inv.scale_min, inv.scale_max
    cols = [mapping[i.id] for i in inv.items]
    raw = df[cols].to_numpy(dtype=object)
    # One pass over all cells (row-major, so errors are listed in file order).
    text = pd.Series(raw.ravel()).astype("string").str.strip()
    empty = (text.isna() | (text == "")).to_numpy()
    num = pd.to_numeric(text.where(~empty), errors="coerce").astype(float).to_numpy()
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(num) & (num == np.round(num)) & (num >= lo) & (num <= hi)
    wrong = ~empty & ~ok & np.repeat(keep.to_numpy(), len(cols))
    n_bad = int(wrong.sum())
    bad = [
        f"{where} {i // len(cols) + first_line}, column '{cols[i % len(cols)]}': "
        f"{str(raw.ravel()[i])!r}"
        for i in np.flatnonzero(wrong)[:_SHOW]
    ]
    values = np.where(ok, num, np.nan).reshape(raw.shape)
    if n_bad and invalid == "error":
        more = f" and {n_bad - len(bad)} more" if n_bad > len(bad) else ""
        raise InputError(
            f"{path}: {n_bad} {'answer is not a whole number' if n_bad == 1 else 'answers are not whole numbers'} from {lo} to {hi}: "
            f"{'; '.join(bad)}{more}. Correct them (leave a cell empty for an unanswered item), "
            "or pass --invalid missing to count them and treat them as unanswered."
        )
    table = pd.DataFrame(values, columns=[i.id for i in inv.items],
                         index=pd.Index(ids.to_numpy(), name="respondent"))
    table = table[keep.to_numpy()]
    return Responses(
        file=str(path),
        answers=table,
        rows=rows,
        no_user=int((~has_id).sum()),
        duplicate_user=int(dup.sum()),
        invalid=n_bad,
        invalid_examples=bad,
        unanswered=int(table.isna().sum().sum()) - n_bad,
    )
