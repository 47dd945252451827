"""Feature filters that write a reduced copy of a feature set: occurrence and PMI.

Both keep every group and every row of the features they keep; only features are removed.

* **Occurrence** (DLATK ``--feat_occ_filter --set_p_occ P --group_freq_thresh W``): keep the
  features used by at least ``P`` of the groups that have at least ``W`` words (``P`` < 1 is
  a share, rounded like DLATK: ``round(P * groups)``; ``P`` >= 1 is a number of groups). The
  new set is named ``<set>_occ<P>``, e.g. ``1gram_occ0.05``.
* **PMI** (DLATK ``--feat_colloc_filter --set_pmi_threshold T``, default 3.0): keep an n-gram
  of ``k`` > 1 words when ``log2(p(ngram) / prod p(word_i)) > (k - 1) * T``, all
  probabilities being counts over the whole corpus at that level divided by the total
  1gram count; 1grams are always kept. The new set is named ``<set>_pmi<T>``, e.g.
  ``1to3gram_pmi3``.
"""

from __future__ import annotations

from typing import Any

import duckdb

from psyprofile.errors import PsyprofileError
from psyprofile.features.ngrams import set_name
from psyprofile.features.store import register_feature_set, require_feature_set, table_name
from psyprofile.store.db import quote_ident, scalar

DEFAULT_PMI = 3.0


def occ_name(name: str, p: float) -> str:
    """The name of ``name`` filtered at occurrence ``p`` (``'1gram_occ0.05'``)."""
    return f"{name}_occ{p:g}"


def pmi_name(name: str, threshold: float) -> str:
    """The name of ``name`` filtered at PMI ``threshold`` (``'1to3gram_pmi3'``)."""
    return f"{name}_pmi{threshold:g}"


def _write_subset(con: duckdb.DuckDBPyConnection, name: str, level: str, new: str,
                  keep_sql: str, keep_params: list[Any], params: dict[str, Any]) -> dict[str, int]:
    """Write ``new`` from the rows of ``name`` whose feature is in ``keep_sql`` (a query
    taking ``keep_params``)."""
    src, dst = table_name(name, level), table_name(new, level)
    con.execute(
        f"CREATE OR REPLACE TABLE {quote_ident(dst)} AS SELECT * FROM {quote_ident(src)} "
        f"WHERE feature IN ({keep_sql}) ORDER BY group_id, feature",
        keep_params,
    )
    return register_feature_set(con, new, level, "filtered", params)


def min_groups(p: float, eligible: int) -> int:
    """How many groups a feature must occur in: ``p`` groups when 1 or more, else the share
    ``p`` of the ``eligible`` groups, rounded to the nearest group (DLATK's rule)."""
    return int(p) if p >= 1 else int(round(p * eligible))


def occurrence_filter(
    con: duckdb.DuckDBPyConnection,
    name: str,
    level: str,
    p: float,
    min_words: int,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<name>_occ<p>``: the features of ``name`` used by at least ``p`` of the groups
    with >= ``min_words`` words (counted in ``group_words``).

    Returns the new set's counts plus ``name``, ``threshold`` (groups a feature must reach)
    and ``eligible_groups``. ``params`` are stored with the set (for re-run checks).
    """
    require_feature_set(con, name, level)
    if p <= 0:
        raise PsyprofileError(f"--min-users-pct must be above 0 (got {p}); try 0.05 for 5%.")
    eligible = scalar(
        con, "SELECT count(*) FROM group_words WHERE level = ? AND words >= ?", [level, min_words]
    )
    if not eligible:
        raise PsyprofileError(
            f"occurrence filter on {name} ({level}): no group has {min_words} words or more, "
            "so no feature can be kept. Lower min_words in psyprofile.toml or --min-words."
        )
    threshold = min_groups(p, eligible)
    keep = (
        f"SELECT t.feature FROM {quote_ident(table_name(name, level))} t JOIN group_words g "
        "ON g.level = ? AND g.group_id = t.group_id AND g.words >= ? "
        "GROUP BY t.feature HAVING count(*) >= ?"
    )
    new = occ_name(name, p)
    counts = _write_subset(con, name, level, new, keep, [level, int(min_words), threshold], {
        **(params or {}), "source": name, "p_occ": p, "min_words": min_words,
        "threshold": threshold, "eligible_groups": eligible,
    })
    return {"name": new, "threshold": threshold, "eligible_groups": eligible, **counts}


def pmi_filter(
    con: duckdb.DuckDBPyConnection,
    name: str,
    level: str,
    threshold: float = DEFAULT_PMI,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``<name>_pmi<threshold>``: the 1grams of ``name`` and its n-grams whose PMI
    (base 2, from the ``1gram`` set at ``level``) exceeds ``(n - 1) * threshold``.

    Returns the new set's counts plus ``name``.
    """
    require_feature_set(con, name, level)
    words = require_feature_set(con, set_name(1), level)
    src = table_name(name, level)
    keep = f"""
        WITH j AS (SELECT feature, sum(value) AS f FROM {quote_ident(src)} GROUP BY feature),
        w AS (SELECT feature, sum(value) AS f FROM {quote_ident(words)} GROUP BY feature),
        tot AS (SELECT sum(value) AS n FROM {quote_ident(words)}),
        parts AS (SELECT feature, f, len(string_split(feature, ' ')) AS k,
                         unnest(string_split(feature, ' ')) AS word FROM j),
        s AS (SELECT parts.feature, any_value(parts.f) AS f, any_value(k) AS k,
                     sum(log2(w.f / tot.n)) AS lw
              FROM parts JOIN w ON w.feature = parts.word CROSS JOIN tot
              GROUP BY parts.feature)
        SELECT s.feature FROM s CROSS JOIN tot
        WHERE s.k = 1 OR log2(s.f / tot.n) - s.lw > (s.k - 1) * ?
    """
    new = pmi_name(name, threshold)
    counts = _write_subset(con, name, level, new, keep, [float(threshold)],
                           {**(params or {}), "source": name, "pmi": threshold})
    return {"name": new, **counts}

