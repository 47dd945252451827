"""Checks a saved model must pass before it is used: sane arrays, consistent shapes.

The integrity record (:mod:`psyprofile.models.integrity`) says a model's files are the ones
that were saved; these checks say they describe a usable model, so a file written by a buggy
or hostile tool that still carries a valid record (or the key) fails with a message, never a
MemoryError, a traceback or silently empty predictions:

* ``arrays.npz`` is read member by member; each member's declared shape and dtype are read
  from its header before any memory is taken, and bounded (:data:`MAX_ARRAY_BYTES` in all);
  only real numbers (float, int, bool) are accepted, and every value must be finite;
* every learned array has the shape the model's description implies (block widths, selected
  columns, principal axes, outputs), and a probe prediction on two rows gives finite scores of
  the expected shape.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from typing import Any

import numpy as np
import scipy.sparse as sp

from psyprofile.errors import printable

MAX_ARRAY_BYTES = 1 << 30  # all arrays of one model, decompressed
MAX_ARRAYS = 10_000  # a model has a few per member
# What zipfile and zlib raise on a damaged archive: a newer zip version (NotImplementedError),
# an encrypted member (RuntimeError), bad deflate data (zlib.error), short or bad headers.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, OSError,
               EOFError, ValueError)
_KINDS = "fiub"  # float, signed/unsigned int, bool: numbers only


class ModelFileError(ValueError):
    """A model file that does not describe a usable model; the message says what is wrong."""


def read_arrays(data: bytes, limit: int = MAX_ARRAY_BYTES) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file held in ``data`` (bytes), checked as described above."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
    except _ZIP_ERRORS as exc:
        raise ModelFileError(f"not an npz archive ({type(exc).__name__})") from None
    if len(infos) > MAX_ARRAYS:
        raise ModelFileError(f"it holds more than {MAX_ARRAYS:,} arrays")
    if sum(i.file_size for i in infos) > limit:
        raise ModelFileError(f"its arrays take more than {limit >> 20} MB")
    out: dict[str, np.ndarray] = {}
    for info in infos:
        name = info.filename.removesuffix(".npy")
        shown = printable(name, 40)
        try:
            with zf.open(info) as fh:
                raw = fh.read(limit + 1)
            out[name] = _read_npy(raw, limit)
        except ModelFileError as exc:
            raise ModelFileError(f"array '{shown}': {exc}") from None
        except _ZIP_ERRORS as exc:
            raise ModelFileError(f"array '{shown}' cannot be read ({type(exc).__name__})") from None
    return out


def _read_npy(raw: bytes, limit: int) -> np.ndarray:
    fh = io.BytesIO(raw)
    version = np.lib.format.read_magic(fh)
    if version == (1, 0):
        shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
    elif version in ((2, 0), (3, 0)):
        shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
    else:
        raise ModelFileError(f"unknown npy version {version}")
    if dtype.kind not in _KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise ModelFileError(f"dtype {dtype.str} is not a plain number type")
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if size > limit or size != len(raw) - fh.tell():
        raise ModelFileError(f"its header declares shape {shape}, which its {len(raw) - fh.tell():,} "
                             "data bytes do not hold")
    arr = np.frombuffer(raw, dtype=dtype, offset=fh.tell()).reshape(shape, order="F" if fortran else "C")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ModelFileError("holds NaN or infinite values")
    return arr.astype(arr.dtype.newbyteorder("="), copy=True)


def check_language_model(spec: dict[str, Any], model: Any) -> None:
    """Raise :class:`ModelFileError` unless ``model`` (a rebuilt
    :class:`~psyprofile.models.pipeline.LanguageModel`) has the shapes ``spec`` implies."""
    blocks = [(str(n), _int(w, "a block width")) for n, w in model.blocks]
    sets = spec["feature_sets"]
    if [s["name"] for s in sets] != [n for n, _ in blocks] or [
            len(s["features"]) for s in sets] != [w for _, w in blocks]:
        raise ModelFileError("its feature sets do not match the estimator's blocks (names and "
                             "numbers of features)")
    n_controls = _int(model.n_controls, "n_controls")
    if len(spec.get("control_names") or []) != n_controls:
        raise ModelFileError("its control names do not match the estimator's n_controls")
    task = spec["task"]
    if task not in ("regression", "classification") or model.task != task:
        raise ModelFileError("its task is neither regression nor classification, or differs "
                             "from the estimator's")
    n_out = 1
    if task == "classification":
        k = len(spec["classes"] or [])
        classes = model.classes_
        if k < 2 or classes is None or classes.shape != (k,):
            raise ModelFileError("its classes do not match the estimator's classes")
        n_out = 1 if k == 2 else k
    groups = model._groups()
    if len(model.members_) != len(groups):
        raise ModelFileError("its number of members does not match its blocks")
    for m, g in zip(model.members_, groups, strict=True):
        widths = [blocks[i][1] for i in g]
        if [int(w) for w in m.widths] != widths or len(m.transforms_) != len(widths):
            raise ModelFileError("a member's widths do not match its blocks")
        for t, w in zip(m.transforms_, widths, strict=True):
            _check_transform(t, w)
        _check_linear(m.head_.coef_, m.head_.intercept_, "a member's coefficients")
    if model.use_meta_:
        _check_linear(model.meta_coef_, model.meta_intercept_, "the combining coefficients")
        for a in ("control_mean_", "control_scale_"):
            v = getattr(model, a)
            if v is None or v.shape != (n_controls,):
                raise ModelFileError(f"{a} does not have one value per control")
        if not (model.control_scale_ > 0).all():
            raise ModelFileError("control_scale_ has values that are not positive")
    # One row of zeros and one of ones (sparse: the width may be large).
    width = n_controls + sum(w for _, w in blocks)
    X = sp.csr_matrix((np.ones(width), np.arange(width), [0, 0, width]), shape=(2, width))
    try:
        d = model.linear_scores(X)
    except (ValueError, IndexError, TypeError) as exc:
        raise ModelFileError(f"its arrays have inconsistent shapes ({type(exc).__name__})") from None
    if d.shape != (2, n_out):
        raise ModelFileError(f"it gives {d.shape[1:]} scores per user, not {n_out}")
    if not np.isfinite(d).all():
        raise ModelFileError("it gives non-finite scores")


def _check_linear(coef: Any, intercept: Any, what: str) -> None:
    if coef is None or intercept is None or coef.ndim != 2 or intercept.shape != (coef.shape[0],):
        raise ModelFileError(f"{what} and intercepts do not have matching shapes")


def _check_transform(t: Any, width: int) -> None:
    for a in ("mean_", "scale_"):
        v = getattr(t, a)
        if v is None or v.shape != (width,):
            raise ModelFileError(f"a transform's {a} does not have the block's width {width}")
    if not (t.scale_ > 0).all():
        raise ModelFileError("a transform's scale_ has values that are not positive")
    if t.components_ is None:
        if t.support_ is not None or t.pca_mean_ is not None:
            raise ModelFileError("a transform has selected columns but no principal axes")
        return
    s = t.support_
    if s is None or s.ndim != 1 or s.dtype.kind not in "iu" or (
            s.size and (s.min() < 0 or s.max() >= width)) or len(np.unique(s)) != len(s):
        raise ModelFileError("a transform's selected columns are not distinct columns of its block")
    if t.pca_mean_ is None or t.pca_mean_.shape != s.shape or t.components_.ndim != 2 or (
            t.components_.shape[1] != len(s)):
        raise ModelFileError("a transform's principal axes do not match its selected columns")


def _int(v: Any, what: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ModelFileError(f"{what} is not a non-negative integer")
    return v
