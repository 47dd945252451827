"""Split-half reliability of every profile dimension (contract C1; used by ``validity``).

Each user's messages, in time order, are split into odd and even ones; every dimension is
scored on each half (:mod:`psyprofile.profiles.sources`), the two half-scores are correlated
over users (Pearson ``r``) and corrected to the full length with Spearman-Brown,
``2r / (1 + r)``. The 95% CI is a percentile bootstrap over users (``seed``). Users with
fewer than ``min_words`` words in all are left out, as in the profile. Supervised Big Five
models are not split (their cross-validated accuracy is in their model card).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from psyprofile.profiles.scoring import score_source, split_half_stats
from psyprofile.profiles.spec import ProfileSpec
from psyprofile.profiles.study import _resolve_min_words, prepare, stored_spec
from psyprofile.store.workspace import Workspace

COLUMNS = ["family", "dimension", "source", "n_users", "r_halves", "reliability", "ci_lo", "ci_hi"]


def split_half(ws: Workspace, *, min_words: int | None = None, seed: int = 0,
               progress: bool = True, spec: ProfileSpec | None = None,
               n_boot: int = 1000) -> pd.DataFrame:
    """One row per dimension of ``spec`` (default: the spec of the last ``profile`` run, else
    :func:`default_spec`) with the columns
    :data:`COLUMNS`: its source, users with two scored halves, r of the halves, the Spearman-Brown
    corrected reliability and its bootstrap 95% CI (``n_boot`` resamples)."""
    spec = spec or stored_spec(ws)
    mw = _resolve_min_words(ws, min_words)
    prep = prepare(ws, spec, progress)
    keep = prep.msgs.user_words() >= mw
    rows = []
    for src in prep.sources:
        sc = score_source(src, prep.msgs, keep)
        for j, d in enumerate(src.dimensions):
            n, r, rel, lo, hi = split_half_stats(sc.halves[keep, 0, j], sc.halves[keep, 1, j],
                                                 seed=seed, n_boot=n_boot)
            rows.append([d.family, d.name, src.source_id, n, r, rel, lo, hi])
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["n_users"] = df["n_users"].astype(np.int64)
    return df
