"""Turning the many ways platforms write time into UTC timestamps.

Accepted: ISO 8601 and other written dates (naive ones taken as UTC), and epoch numbers
(digits, optionally with a fraction), told apart by magnitude: below 10^11 they are
seconds since 1970 (up to the year 5138), from 10^11 to below 10^14 milliseconds (X and
JavaScript write these). Exactly eight digits are a ``YYYYMMDD`` date, not an epoch.

Not accepted (a ``bad_time`` reject): words without a digit such as ``now``, ``today``
or ``yesterday`` (they would turn into the time of ingest, so the same file read twice
would store its rows twice), negative epochs, and anything outside the years 1 to 9999.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa

TIME_TYPE = pa.timestamp("us", tz="UTC")
_EPOCH = r"\d+(?:\.\d+)?"
_DATE8 = r"\d{8}"
MS_FROM = 10**11  # epoch values from here on are milliseconds
MS_UNTIL = 10**14
_EPOCH_US = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_EPOCH_TS = pd.Timestamp(0, tz="UTC")
_US = pd.Timedelta(microseconds=1)
# The range every later step (Python datetimes, DuckDB) can hold, in microseconds.
_MIN_US = int((dt.datetime(1, 1, 1, tzinfo=dt.UTC) - _EPOCH_US).total_seconds()) * 10**6
_MAX_US = int((dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC) - _EPOCH_US).total_seconds()) * 10**6


def _epoch_us(value: str) -> int | None:
    """Microseconds since 1970 of an epoch number in seconds or milliseconds, or None."""
    x = float(value)
    if x >= MS_UNTIL:
        return None
    return round(x * (1_000 if x >= MS_FROM else 1_000_000))


def _parse_written(values: pd.Series) -> list[int | None]:
    """Microseconds since 1970 of written dates, None where they do not parse."""
    out: list[int | None] = [None] * len(values)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            iso = pd.to_datetime(values, utc=True, format="ISO8601", errors="coerce")
            good = iso.notna().to_numpy()
            for i, u in zip(np.nonzero(good)[0], iso[good].dt.as_unit("us").astype("int64"), strict=True):
                out[i] = int(u)
        except (ValueError, OverflowError, NotImplementedError):
            good = np.zeros(len(values), dtype=bool)  # e.g. year 0: parse one by one
        for i in np.nonzero(~good)[0]:
            with contextlib.suppress(ValueError, OverflowError, NotImplementedError, TypeError):
                out[i] = (pd.to_datetime(values.iloc[i], utc=True, format="mixed") - _EPOCH_TS) // _US
    return out


def parse_times(values: list) -> tuple[pa.Array, np.ndarray]:
    """Parse ``values`` (strings, epoch numbers as text, or None); see the module doc.

    Returns the UTC timestamps (null where missing or unparsable) and a boolean mask of
    the values that were present but could not be parsed.
    """
    s = pd.Series(values, dtype=object)
    present = (s.notna() & (s.astype(str).str.strip() != "")).to_numpy()
    us: list[int | None] = [None] * len(s)
    if present.any():
        v = s[present].astype(str).str.strip()
        idx = np.nonzero(present)[0]
        epoch = (v.str.fullmatch(_EPOCH) & ~v.str.fullmatch(_DATE8)).to_numpy()
        written = (~epoch) & v.str.contains(r"\d").to_numpy()  # no digit: 'now', 'today'
        for i, val in zip(idx[epoch], v[epoch], strict=True):
            us[i] = _epoch_us(val)
        if written.any():
            for i, got in zip(idx[written], _parse_written(v[written]), strict=True):
                us[i] = got
    us = [u if u is not None and _MIN_US <= u <= _MAX_US else None for u in us]
    arr = pa.array(us, pa.int64()).cast(TIME_TYPE)
    bad = present & np.array([u is None for u in us], dtype=bool)
    return arr, bad
