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

The linear algebra is floating point on sparse 0/1 matrices with a few hundred rows (the
distinct released sets) and up to one column per element: an orthonormal row-space basis
comes from a rank-revealing Cholesky factorisation of the small Gram matrix ``M M^T``
(cost linear in the atoms), and a projector entry counts as 1 within ``TOL``; both tolerances err towards
calling a set derivable, i.e. towards suppressing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.linalg import lapack, solve_triangular

# A projector entry within TOL of 1 (a squared residual under TOL) counts as derivable, and
# a Cholesky pivot under RANK_TOL x the largest Gram entry as zero: both err towards
# suppressing.
TOL = 1e-6
RANK_TOL = 1e-10


@dataclass(frozen=True)
class Atoms:
    """Elementary sets of a list of member sets: ``matrix`` (n_sets, n_atoms) sparse 0/1,
    ``sizes`` (n_atoms,) elements per atom and ``members`` the elements of each atom."""

    matrix: sparse.csr_matrix
    sizes: np.ndarray
    members: list[frozenset[Hashable]]


def atoms(sets: Sequence[frozenset[Hashable]], seed: int = 0) -> Atoms:
    """The elementary sets (atoms) of ``sets``: elements grouped by the sets holding them.

    An element's signature is two random 53-bit sums over the sets holding it, so equal
    signatures mean equal memberships (a collision has probability ~2^-100).
    """
    elems = list(set().union(*sets)) if sets else []
    if not elems:
        return Atoms(sparse.csr_matrix((len(sets), 0)), np.zeros(0, dtype=np.int64), [])
    index = {e: i for i, e in enumerate(elems)}
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    cols = np.fromiter((index[e] for s in sets for e in s), dtype=np.int64, count=len(rows))
    inc = sparse.csr_matrix((np.ones(len(rows)), (cols, rows)), shape=(len(elems), len(sets)))
    sig = inc @ np.random.default_rng(seed).random((len(sets), 2))
    _, first, inverse, sizes = np.unique(sig, axis=0, return_index=True, return_inverse=True,
                                         return_counts=True)
    inverse = inverse.ravel()
    groups: list[list[Hashable]] = [[] for _ in range(len(sizes))]
    for e, a in zip(elems, inverse, strict=True):
        groups[a].append(e)
    matrix = inc[first].T.tocsr()  # one column per atom: the membership of any of its elements
    return Atoms(matrix, sizes.astype(np.int64), [frozenset(g) for g in groups])


def pinned_sets(sets: Sequence[frozenset[Hashable]], k: int,
                seed: int = 0) -> set[frozenset[Hashable]]:
    """The sets of 1..k-1 elements whose sum the released ``sets`` make derivable by linear
    combination: determined atoms and derivable unions of two or three atoms (see the module
    docstring). Symmetric differences are :meth:`SetIndex.near`."""
    out: set[frozenset[Hashable]] = set()
    at = atoms(sets, seed)
    small = np.flatnonzero(at.sizes < k)
    if not len(small):
        return out
    basis = RowSpace(at.matrix)
    rows = basis.rows(small)  # rows of an orthonormal basis of the row space, small atoms
    diag = (rows ** 2).sum(axis=1)
    for a in small[diag > 1 - TOL]:
        out.add(at.members[a])
    rest = diag <= 1 - TOL
    for combo in _zero_sum_unions(basis, small[rest], rows[rest], at.sizes, k, seed):
        out.add(frozenset().union(*(at.members[a] for a in combo)))
    return out


class RowSpace:
    """An orthonormal basis ``B = M^T W`` (n_atoms, rank) of the row space of a sparse 0/1
    matrix ``M`` (n_sets, n_atoms), from a pivoted (rank-revealing) Cholesky factorisation
    of the small Gram matrix ``M M^T`` (LAPACK ``dpstrf``): the pivots are independent sets
    ``R`` with ``G_RR = L L^T``, so ``B = M_R^T L^-T`` and ``B^T B = I``. The cost grows with
    the atoms only linearly."""

    def __init__(self, m: sparse.csr_matrix):
        self.m = m
        gram = (m @ m.T).toarray()
        self.w = np.zeros((m.shape[0], 0))
        if not gram.size or not gram.any():
            return
        c, piv, rank, _ = lapack.dpstrf(gram, lower=1, tol=RANK_TOL * float(gram.max()))
        pivots = piv[:rank] - 1
        low = np.tril(c[:rank, :rank])
        self.w = np.zeros((m.shape[0], rank))
        self.w[pivots] = solve_triangular(low, np.eye(rank), lower=True).T  # (n_sets, rank)

    def rows(self, atoms_idx: np.ndarray) -> np.ndarray:
        """Rows of ``B`` for the atoms ``atoms_idx``, (len, rank)."""
        return np.asarray(self.m[:, atoms_idx].T @ self.w)

    def coefficients(self, v: np.ndarray) -> np.ndarray:
        """``B^T v`` for a vector ``v`` over all atoms, (rank,)."""
        return self.w.T @ (self.m @ v)


def _zero_sum_unions(basis: RowSpace, cand: np.ndarray, rows: np.ndarray, sizes: np.ndarray,
                     k: int, seed: int) -> list[tuple[int, ...]]:
    """Unions of 2 or 3 atoms of ``cand`` (with fewer than ``k`` elements together) whose
    indicator lies in the row space; ``rows`` are the basis rows of ``cand``."""
    if len(cand) < 2:
        return []
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(basis.m.shape[1])
    # the projection on r of each atom's residual (I - P) e_a: a zero-sum union has zero sum
    h = r[cand] - rows @ basis.coefficients(r)
    tol = 1e-8 * max(1.0, float(np.abs(h).max()))
    order = np.argsort(h)
    hs, pos = h[order], order
    found: list[tuple[int, ...]] = []

    def verify(combo: tuple[int, ...]) -> None:
        atoms_ = cand[list(combo)]
        if sizes[atoms_].sum() >= k:
            return
        proj = rows[list(combo)].sum(axis=0)
        if len(combo) - float(proj @ proj) < TOL:  # squared residual of the union's indicator
            found.append(tuple(int(a) for a in atoms_))

    lo = np.searchsorted(hs, -hs - tol, side="left")
    hi = np.searchsorted(hs, -hs + tol, side="right")
    for i in np.flatnonzero(hi > lo):
        for j in range(max(lo[i], i + 1), hi[i]):
            verify((int(pos[i]), int(pos[j])))
    # triples, only among atoms small enough to be in one: all pair sums, in blocks of rows
    fit = sizes[cand[pos]] <= k - 3
    t_h, t_pos = hs[fit], pos[fit]
    n = len(t_h)
    step = max(1, 2_000_000 // max(n, 1))
    for i0 in range(0, n, step):
        pair = t_h[i0:i0 + step, None] + t_h[None, :]  # (block, n): h_i + h_j
        lo = np.searchsorted(t_h, -pair - tol, side="left")
        hi = np.searchsorted(t_h, -pair + tol, side="right")
        bi, j = np.nonzero(hi > lo)
        for b, jj in zip(bi.tolist(), j.tolist(), strict=True):
            i = i0 + b
            if jj <= i:
                continue
            for m in range(max(int(lo[b, jj]), jj + 1), int(hi[b, jj])):
                verify((int(t_pos[i]), int(t_pos[jj]), int(t_pos[m])))
    return found


class SetIndex:
    """Released sets indexed by element, to find new sets close to any of them."""

    def __init__(self, sets: Sequence[frozenset[Hashable]]):
        self.sets = list(sets)
        self.by_elem: dict[Hashable, list[int]] = {}
        for j, s in enumerate(self.sets):
            for e in s:
                self.by_elem.setdefault(e, []).append(j)

    def near(self, new: Sequence[frozenset[Hashable]], k: int) -> set[frozenset[Hashable]]:
        """Symmetric differences of 1..k-1 elements between a set of ``new`` and an indexed
        one."""
        out: set[frozenset[Hashable]] = set()
        for s in new:
            overlap = Counter(j for e in s for j in self.by_elem.get(e, ()))
            for j, common in overlap.items():
                if 0 < len(s) + len(self.sets[j]) - 2 * common < k:
                    out.add(s ^ self.sets[j])
        return out
