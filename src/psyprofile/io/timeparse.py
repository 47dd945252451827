"""Turning the many ways platforms write time into UTC timestamps."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

TIME_TYPE = pa.timestamp("us", tz="UTC")


def parse_times(values: list) -> tuple[pa.Array, np.ndarray]:
    """Parse ``values`` (ISO strings, other date strings, epoch seconds, or None).

    Returns the UTC timestamps (null where missing or unparsable) and a boolean mask of
    the values that were present but could not be parsed. Naive times are taken as UTC.
    """
    s = pd.Series(values, dtype=object)
    present = s.notna() & (s.astype(str).str.strip() != "")
    out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    if present.any():
        v = s[present].astype(str).str.strip()
        epoch = v.str.fullmatch(r"\d{9,11}(\.\d+)?")
        if epoch.any():
            out[epoch[epoch].index] = pd.to_datetime(v[epoch].astype(float), unit="s", utc=True)
        rest = v[~epoch]
        if len(rest):
            parsed = pd.to_datetime(rest, utc=True, format="ISO8601", errors="coerce")
            failed = parsed.isna()
            if failed.any():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    parsed[failed] = pd.to_datetime(rest[failed], utc=True, format="mixed", errors="coerce")
            out[rest.index] = parsed
    bad = (present & out.isna()).to_numpy()
    arr = pa.array(out.dt.as_unit("us"), type=TIME_TYPE, from_pandas=True)
    return arr, bad
