"""Query auditing of released sums: which small sets of users a set of releases pins down.

Every released group statistic is a known function of user values over a known member set:
a mean with its count is a sum (``n * mean``), and sums over member sets ``S_1..S_m`` let
anyone compute every linear combination ``sum_r c_r * sum(S_r)``. A user's value is exposed
exactly when the user's indicator vector lies in the row space of the member-set matrix
(Chin & Özsoyoglu 1982, "Auditing and inference control in statistical databases", IEEE
TSE 8(6)). Row-space vectors are constant on *elementary sets* (atoms: users who belong to
exactly the same released sets), so the audit works on the small atom matrix
``M`` (sets x atoms) instead of users:

* an atom is *determined* (its sum derivable) iff its unit vector lies in ``rowspace(M)``,
  i.e. iff its diagonal entry of the orthogonal projector onto the row space is 1; a
  determined atom of fewer than ``k`` users pins a small group (one user: that user's value);
* a union of 2 or 3 small atoms is derivable iff the projector's residual ``(I - P) 1_U``
  vanishes; candidates are found by a random projection of the residuals (a zero sum of
  residual vectors is a zero sum of any projection of them) and then verified;
* two sets whose symmetric difference holds 1..k-1 users give the difference of those users'
  sums (a small group, or one user's value minus another's).

Deciding whether *any* 0/1 vector of small support lies in a row space is NP-hard (it is a
minimum-weight codeword problem), so unions of four or more atoms that each are split by
other releases are not searched; see ``docs/study.md`` (threat model).

The linear algebra is floating point on 0/1 matrices of at most a few hundred rows: the
row-space basis comes from an SVD (``scipy.linalg.orth``, rank by the default relative
tolerance), and a projector entry counts as 1 within ``TOL``; errors of this size on 0/1
data err towards calling a set derivable, i.e. towards suppressing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg

TOL = 1e-8


@dataclass(frozen=True)
class Atoms:
    """Elementary sets of a list of member sets: ``matrix`` (n_sets, n_atoms) 0/1 float,
    ``sizes`` (n_atoms,) users per atom and ``members`` the elements of each atom."""

    matrix: np.ndarray
    sizes: np.ndarray
    members: list[frozenset[Hashable]]


def atoms(sets: Sequence[frozenset[Hashable]]) -> Atoms:
    """The elementary sets (atoms) of ``sets``: elements grouped by the sets holding them."""
    elems = sorted(set().union(*sets), key=str) if sets else []
    index = {e: i for i, e in enumerate(elems)}
    inc = np.zeros((len(sets), len(elems)), dtype=bool)
    for r, s in enumerate(sets):
        inc[r, [index[e] for e in s]] = True
    if not elems:
        return Atoms(np.zeros((len(sets), 0)), np.zeros(0, dtype=np.int64), [])
    cols, inverse, sizes = np.unique(inc.T, axis=0, return_inverse=True, return_counts=True)
    groups: list[list[Hashable]] = [[] for _ in range(len(sizes))]
    for e, a in zip(elems, inverse.ravel(), strict=True):
        groups[a].append(e)
    return Atoms(cols.T.astype(float), sizes.astype(np.int64), [frozenset(g) for g in groups])


def pinned_sets(sets: Sequence[frozenset[Hashable]], k: int,
                seed: int = 0) -> set[frozenset[Hashable]]:
    """The sets of 1..k-1 elements whose sum the released ``sets`` make derivable.

    Found: determined atoms, derivable unions of two or three atoms (see the module
    docstring) and symmetric differences of two released sets. Empty means none of these.
    """
    out: set[frozenset[Hashable]] = set()
    out |= small_differences(sets, sets, k)
    at = atoms(sets)
    small = np.flatnonzero((at.sizes < k) & (at.matrix.sum(axis=0) > 0))
    if not len(small):
        return out
    basis = linalg.orth(at.matrix.T)  # (n_atoms, rank): orthonormal basis of the row space
    if basis.shape[1] == 0:
        return out
    diag = (basis[small] ** 2).sum(axis=1)
    for a in small[diag > 1 - TOL]:
        out.add(at.members[a])
    rest = small[diag <= 1 - TOL]
    for combo in _zero_sum_unions(basis, rest, at.sizes, k, seed):
        out.add(frozenset().union(*(at.members[a] for a in combo)))
    return out


def _residual_norm(basis: np.ndarray, idx: Sequence[int]) -> float:
    v = np.zeros(basis.shape[0])
    v[list(idx)] = 1.0
    return float(np.linalg.norm(v - basis @ (basis.T @ v)))


def _zero_sum_unions(basis: np.ndarray, cand: np.ndarray, sizes: np.ndarray, k: int,
                     seed: int) -> list[tuple[int, ...]]:
    """Unions of 2 or 3 atoms of ``cand`` (with fewer than ``k`` users together) whose
    indicator lies in the row space of ``basis`` (n_atoms, rank)."""
    if len(cand) < 2:
        return []
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(basis.shape[0])
    h = (r - basis @ (basis.T @ r))[cand]  # projection of each atom's residual (I - P) e_a
    scale = max(1.0, float(np.abs(h).max()))
    tol = 1e-7 * scale
    order = np.argsort(h)
    hs, ids = h[order], cand[order]
    found: list[tuple[int, ...]] = []

    def verify(combo: tuple[int, ...]) -> None:
        if sizes[list(combo)].sum() < k and _residual_norm(basis, combo) < np.sqrt(TOL):
            found.append(combo)

    # pairs: h_i + h_j = 0
    lo = np.searchsorted(hs, -hs - tol, side="left")
    hi = np.searchsorted(hs, -hs + tol, side="right")
    for i in np.flatnonzero(hi > lo):
        for j in range(lo[i], hi[i]):
            if j > i:
                verify((int(ids[i]), int(ids[j])))
    # triples: h_i + h_j + h_l = 0, only among atoms small enough to be in one
    fit = sizes[ids] <= k - 3
    t_h, t_ids = hs[fit], ids[fit]
    for i in range(len(t_h)):
        s = t_h[i] + t_h[i + 1:]
        lo = np.searchsorted(t_h, -s - tol, side="left")
        hi = np.searchsorted(t_h, -s + tol, side="right")
        for off in np.flatnonzero(hi > lo):
            j = i + 1 + off
            for m in range(max(lo[off], j + 1), hi[off]):
                verify((int(t_ids[i]), int(t_ids[j]), int(t_ids[m])))
    return found


def small_differences(new: Sequence[frozenset[Hashable]], old: Sequence[frozenset[Hashable]],
                      k: int) -> set[frozenset[Hashable]]:
    """Symmetric differences of 1..k-1 elements between a set of ``new`` and one of ``old``."""
    by_elem: dict[Hashable, list[int]] = {}
    for j, s in enumerate(old):
        for e in s:
            by_elem.setdefault(e, []).append(j)
    out: set[frozenset[Hashable]] = set()
    for s in new:
        overlap = Counter(j for e in s for j in by_elem.get(e, ()))
        for j, common in overlap.items():
            if 0 < len(s) + len(old[j]) - 2 * common < k:
                out.add(s ^ old[j])
    return out
