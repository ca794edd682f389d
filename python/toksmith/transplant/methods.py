"""Embedding initialisation for a new vocabulary (numpy/scipy only, no torch).

Every method produces a `Recipe`: for each new id either a sparse combination of OLD rows
(``W[new, old]``, a CSR matrix), the mean of the old rows, or a random row. A recipe is computed
once and applied to every matrix with one row per token (input embeddings, untied output
embeddings, an output bias), so tied and untied models are handled alike: ``E_new = W @ E_old``.

Tokens are matched by the BYTES they decode to (`normalise_token` turns byte-level ``Ġ``-style
strings, SentencePiece ``▁`` and byte-fallback ``<0x..>`` pieces into bytes). A new token whose
bytes are an old token's bytes is *shared* and copied exactly, in every method; special tokens
are matched by content (and by role, see the HF adapter). Only the remaining rows differ by method.

Notation: ``E`` old embedding matrix, ``s`` a new token, ``p_1..p_n = old.encode(bytes(s))`` its
pieces under the old tokenizer, ``phi`` an auxiliary text embedding (a sentence-embedding model of
the token's text; without one, ``phi(s) = mean_i E[p_i]`` and ``phi(old j) = E[j]``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

COMBO, MEAN, RANDOM = 0, 1, 2
METHODS = ("hybrid", "omp", "focus", "subword-mean", "mean", "random")

Decompose = Callable[[bytes], Sequence[int]]
DecomposeMany = Callable[[list[bytes]], list[list[int]]]


# --------------------------------------------------------------------------- token bytes
@lru_cache(maxsize=1)
def byte_level_decoder() -> dict[str, int]:
    """GPT-2's printable-character -> byte table (the inverse of its bytes_to_unicode)."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    chars = list(keep)
    extra = 0
    for b in range(256):
        if b not in keep:
            keep.append(b)
            chars.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(keep, chars)}


def normalise_token(token: str, scheme: str) -> bytes | None:
    """The bytes an HF token string decodes to, or None when it has no byte form.

    ``scheme`` is ``"byte-level"`` (GPT-2 style: every char stands for one byte), ``"spm"``
    (SentencePiece: ``▁`` is a space, ``<0xNN>`` a raw byte) or ``"plain"`` (UTF-8 text).
    """
    if scheme == "byte-level":
        table = byte_level_decoder()
        try:
            return bytes(table[c] for c in token)
        except KeyError:
            return None
    if scheme == "spm":
        if len(token) == 6 and token.startswith("<0x") and token.endswith(">"):
            try:
                return bytes([int(token[3:5], 16)])
            except ValueError:
                return None
        return token.replace("\u2581", " ").encode("utf-8")
    return token.encode("utf-8")


@dataclass
class Vocab:
    """One tokenizer's view: the bytes of each regular id (None for specials and holes), the
    special tokens by content, and (for the old tokenizer) how to split bytes into ids."""

    tokens: list[bytes | None]
    specials: dict[str, int] = field(default_factory=dict)
    decompose: Decompose | None = None
    decompose_many: DecomposeMany | None = None

    @property
    def size(self) -> int:
        return len(self.tokens)

    def byte_index(self) -> dict[bytes, int]:
        """bytes -> id over regular tokens (the lowest id wins for duplicate decodings)."""
        out: dict[bytes, int] = {}
        for i, t in enumerate(self.tokens):
            if t is not None and t not in out:
                out[t] = i
        return out


def shared_pairs(old: Vocab, new: Vocab) -> tuple[np.ndarray, np.ndarray]:
    """(new ids, old ids) of regular tokens with identical bytes, and of specials with identical
    content."""
    index = old.byte_index()
    new_ids, old_ids = [], []
    for i, t in enumerate(new.tokens):
        if t is not None and t in index:
            new_ids.append(i)
            old_ids.append(index[t])
    for content, i in new.specials.items():
        j = old.specials.get(content)
        if j is not None:
            new_ids.append(i)
            old_ids.append(j)
    return np.asarray(new_ids, dtype=np.int64), np.asarray(old_ids, dtype=np.int64)


def greedy_decomposer(vocab: Vocab) -> Decompose:
    """Longest-prefix-match segmentation over the vocabulary's bytes: the fallback when the old
    tokenizer itself cannot encode arbitrary bytes. Bytes not covered by any token are skipped."""
    index = vocab.byte_index()
    longest = max((len(t) for t in index), default=1)

    def split(data: bytes) -> list[int]:
        out, i = [], 0
        while i < len(data):
            for n in range(min(longest, len(data) - i), 0, -1):
                j = index.get(data[i : i + n])
                if j is not None:
                    out.append(j)
                    i += n
                    break
            else:
                i += 1
        return out

    return split


# --------------------------------------------------------------------------- recipes
@dataclass
class Recipe:
    """How to build each new row: ``weights`` (n_new x n_old CSR) for COMBO rows, ``fill`` the
    kind of every row (COMBO, MEAN or RANDOM); ``counts`` per method part, for reports."""

    weights: sp.csr_matrix
    fill: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    def apply(self, matrix: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """``W @ matrix`` for COMBO rows, the column mean for MEAN rows and a draw from
        ``N(mean, std)`` (per column, over the old rows) for RANDOM rows."""
        old = np.asarray(matrix, dtype=np.float64)
        if old.shape[0] != self.weights.shape[1]:
            raise ValueError(
                f"recipe expects {self.weights.shape[1]} old rows, matrix has {old.shape[0]}"
            )
        out = np.asarray(self.weights @ old)
        mean, std = old.mean(axis=0), old.std(axis=0)
        is_mean = self.fill == MEAN
        out[is_mean] = mean
        is_rand = self.fill == RANDOM
        if is_rand.any():
            out[is_rand] = rng.normal(mean, std, size=(int(is_rand.sum()), old.shape[1]))
        return out.astype(matrix.dtype, copy=False)


class _Builder:
    """Collects (row, old id, weight) triples and row kinds."""

    def __init__(self, n_new: int, n_old: int) -> None:
        self.n_new, self.n_old = n_new, n_old
        self.rows: list[np.ndarray] = []
        self.cols: list[np.ndarray] = []
        self.vals: list[np.ndarray] = []
        self.fill = np.full(n_new, RANDOM, dtype=np.int8)
        self.done = np.zeros(n_new, dtype=bool)

    def add(self, rows: np.ndarray, cols: np.ndarray, vals: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int64)
        self.rows.append(rows)
        self.cols.append(np.asarray(cols, dtype=np.int64))
        self.vals.append(np.asarray(vals, dtype=np.float64))
        self.fill[rows] = COMBO
        self.done[rows] = True

    def build(self, counts: dict[str, int]) -> Recipe:
        if self.rows:
            r, c, v = (np.concatenate(x) for x in (self.rows, self.cols, self.vals))
        else:
            r = c = np.zeros(0, dtype=np.int64)
            v = np.zeros(0)
        w = sp.coo_matrix((v, (r, c)), shape=(self.n_new, self.n_old)).tocsr()
        w.sum_duplicates()
        return Recipe(w, self.fill, counts)


# --------------------------------------------------------------------------- vector helpers
def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), as float32."""
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def topk_cosine(
    queries: np.ndarray, keys: np.ndarray, k: int, chunk: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """For each query row, the `k` keys of highest cosine similarity, best first.

    Chunked matrix products (``chunk`` queries at a time, so memory is ``chunk x len(keys)``)
    and ``argpartition``: O(n_q * n_k * d) flops, no Python loop over rows."""
    k = min(k, keys.shape[0])
    q, kk = unit_rows(queries), unit_rows(keys)
    idx = np.zeros((q.shape[0], k), dtype=np.int64)
    sim = np.zeros((q.shape[0], k), dtype=np.float32)
    for start in range(0, q.shape[0], chunk):
        s = q[start : start + chunk] @ kk.T
        part = (  # partition the similarities themselves: no negated copy of the block
            np.argpartition(s, s.shape[1] - k, axis=1)[:, -k:]
            if k < s.shape[1]
            else np.tile(np.arange(s.shape[1]), (s.shape[0], 1))
        )
        ps = np.take_along_axis(s, part, axis=1)
        order = np.argsort(-ps, axis=1)
        idx[start : start + chunk] = np.take_along_axis(part, order, axis=1)
        sim[start : start + chunk] = np.take_along_axis(ps, order, axis=1)
    return idx, sim


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - x.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def sparsemax(z: np.ndarray) -> np.ndarray:
    """Row-wise sparsemax (Martins & Astudillo 2016): the Euclidean projection of each row onto
    the probability simplex, ``p_i = max(z_i - tau, 0)`` with ``tau`` chosen so ``sum p = 1``."""
    z = np.asarray(z, dtype=np.float64)
    zs = -np.sort(-z, axis=1)
    cs = np.cumsum(zs, axis=1)
    r = np.arange(1, z.shape[1] + 1)
    support = 1 + r * zs > cs
    kz = support.sum(axis=1)
    tau = (np.take_along_axis(cs, (kz - 1)[:, None], axis=1)[:, 0] - 1) / kz
    return np.maximum(z - tau[:, None], 0.0)


def omp(
    x: np.ndarray, atoms: np.ndarray, k: int, nonneg: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Batched orthogonal matching pursuit: for each row ``x_b`` (B x m) and its own candidate
    dictionary ``atoms_b`` (B x M x m), pick ``k`` atoms greedily (largest ``|<r, a>|/|a|`` of the
    residual ``r``), re-fitting all chosen coefficients by least squares after each pick:
    ``c = argmin |x - A_S^T c|``. Returns (chosen candidate positions B x k, coefficients B x k).

    ``nonneg``: non-negative OMP: an atom is picked by the largest *positive* correlation
    ``<r, a>/|a|`` (none if all are <= 0), and the least-squares fit is constrained to ``c >= 0``
    (active set: atoms whose coefficient comes out negative are dropped and the rest re-fitted, at
    most ``k`` rounds). Dropped or never-picked positions have coefficient 0.
    """
    b, m_cand, _ = atoms.shape
    k = min(k, m_cand)
    x = np.asarray(x, dtype=np.float64)
    a = np.asarray(atoms, dtype=np.float32)  # the big B x M x m block: float32 for selection
    norms = np.linalg.norm(a, axis=2)
    norms[norms == 0] = 1.0
    chosen = np.zeros((b, k), dtype=np.int64)
    active = np.zeros((b, k), dtype=bool)
    coef = np.zeros((b, 0))
    residual = x.copy()
    taken = np.zeros((b, m_cand), dtype=bool)
    rows = np.arange(b)
    for step in range(k):
        corr = (a @ residual[:, :, None].astype(np.float32))[:, :, 0] / norms
        if not nonneg:
            corr = np.abs(corr)
        corr[taken] = -np.inf
        pick = corr.argmax(axis=1)
        chosen[:, step] = pick
        taken[rows, pick] = True
        active[:, step] = corr[rows, pick] > (0.0 if nonneg else -np.inf)
        sel = a[rows[:, None], chosen[:, : step + 1]].astype(np.float64)  # B x s x m
        coef = _masked_lstsq(sel, x, active[:, : step + 1])
        if nonneg:
            for _ in range(step + 1):
                neg = active[:, : step + 1] & (coef < 0)
                if not neg.any():
                    break
                active[:, : step + 1] &= ~neg
                coef = _masked_lstsq(sel, x, active[:, : step + 1])
        residual = x - (coef[:, None, :] @ sel)[:, 0, :]
    return chosen, coef


def _masked_lstsq(sel: np.ndarray, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``argmin_c |x_b - sum_s c_s sel_bs|`` per row over the atoms with ``mask`` set (the other
    coefficients are 0): normal equations with inactive rows/columns replaced by the identity."""
    m = mask.astype(np.float64)
    gram = (sel @ sel.transpose(0, 2, 1)) * m[:, :, None] * m[:, None, :]
    gram += np.eye(sel.shape[1]) * (1.0 - m)[:, :, None] + 1e-8 * np.eye(sel.shape[1])
    rhs = (sel @ x[:, :, None])[:, :, 0] * m
    return np.linalg.solve(gram, rhs[..., None])[..., 0] * m


def pieces_csr(pieces: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """(indptr, ids): the pieces of target t are ``ids[indptr[t]:indptr[t + 1]]``."""
    n = np.fromiter((len(x) for x in pieces), dtype=np.int64, count=len(pieces))
    indptr = np.zeros(len(pieces) + 1, dtype=np.int64)
    np.cumsum(n, out=indptr[1:])
    ids = np.fromiter((j for x in pieces for j in x), dtype=np.int64, count=int(indptr[-1]))
    return indptr, ids


def segment_softmax(x: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """Softmax of ``x`` within each segment ``indptr[t]:indptr[t + 1]`` (empty ones allowed)."""
    out = np.zeros(len(x), dtype=np.float64)
    if len(x) == 0:
        return out
    starts = indptr[:-1][np.diff(indptr) > 0]
    seg = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    mx = np.maximum.reduceat(x, starts)
    # `starts` are the nonempty segments in order; map each entry to its rank among them.
    rank = np.cumsum(np.diff(indptr) > 0) - 1
    e = np.exp(x - mx[rank[seg]])
    return e / np.add.reduceat(e, starts)[rank[seg]]


# --------------------------------------------------------------------------- shared part
@dataclass
class Problem:
    """Everything a method needs. ``old_emb``: the base model's input embeddings (n_old x d);
    ``shared_new``/``shared_old``: copied rows; ``targets``: new ids still to initialise;
    ``phi_new``/``phi_old``: auxiliary embeddings of every new / old id (None rows unused);
    ``donor``: donor-space vectors of every new id (OMP)."""

    old: Vocab
    new: Vocab
    old_emb: np.ndarray
    shared_new: np.ndarray
    shared_old: np.ndarray
    targets: np.ndarray
    phi_new: np.ndarray | None = None
    phi_old: np.ndarray | None = None
    donor: np.ndarray | None = None
    pieces: list[list[int]] | None = None

    @property
    def n_new(self) -> int:
        return self.new.size

    @property
    def n_old(self) -> int:
        return self.old.size


def make_problem(
    old: Vocab, new: Vocab, old_emb: np.ndarray, extra_copies: dict[int, int]
) -> Problem:
    """Shared pairs (by bytes and special content) plus ``extra_copies`` (new id -> old id, e.g.
    special tokens mapped by role); every other new id is a target."""
    sn, so = shared_pairs(old, new)
    pairs = dict(zip(sn.tolist(), so.tolist()))
    for n, o in extra_copies.items():
        pairs.setdefault(n, o)
    sn = np.fromiter(pairs.keys(), dtype=np.int64, count=len(pairs))
    so = np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs))
    done = np.zeros(new.size, dtype=bool)
    done[sn] = True
    present = np.array([t is not None for t in new.tokens], dtype=bool)
    targets = np.flatnonzero(~done & present)
    return Problem(old, new, old_emb, sn, so, targets)


def decompose_targets(p: Problem) -> list[list[int]]:
    """``old.encode(bytes(s))`` for every target s (cached on the problem)."""
    if p.pieces is None:
        data = [p.new.tokens[i] or b"" for i in p.targets.tolist()]
        if p.old.decompose_many is not None:
            p.pieces = p.old.decompose_many(data)
        else:
            split = p.old.decompose or greedy_decomposer(p.old)
            p.pieces = [list(split(d)) for d in data]
    return p.pieces


def _start(p: Problem) -> _Builder:
    b = _Builder(p.n_new, p.n_old)
    b.add(p.shared_new, p.shared_old, np.ones(len(p.shared_new)))
    # New ids with no token (holes) get the mean, not noise.
    holes = np.array([t is None for t in p.new.tokens], dtype=bool)
    holes[p.shared_new] = False
    b.fill[holes] = MEAN
    return b


def _counts(p: Problem, b: _Builder, **extra: int) -> dict[str, int]:
    return {
        "new_vocab": p.n_new,
        "copied": len(p.shared_new),
        "targets": len(p.targets),
        "random_fallback": int((b.fill == RANDOM).sum()),
        **extra,
    }


def _pieces_csr(p: Problem, pieces: list[list[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(target position, old id, 1/n) triples for the subword mean of each target."""
    indptr, ids = pieces_csr(pieces)
    n = np.diff(indptr)
    pos = np.repeat(np.arange(len(pieces)), n)
    return pos, ids, 1.0 / n[pos]


# --------------------------------------------------------------------------- methods
def random_init(p: Problem, **_: object) -> Recipe:
    """``e(s) ~ N(mu, sigma)`` per dimension, ``mu``/``sigma`` over the old matrix's rows."""
    b = _start(p)
    return b.build(_counts(p, b))


def mean_init(p: Problem, **_: object) -> Recipe:
    """``e(s) = (1/|V_old|) sum_j E[j]``: every new token gets the mean old row."""
    b = _start(p)
    b.fill[p.targets] = MEAN
    return b.build(_counts(p, b, mean=len(p.targets)))


def subword_mean_init(p: Problem, **_: object) -> Recipe:
    """FVT / ReTok: ``e(s) = (1/n) sum_i E[p_i]`` over the old tokenizer's pieces of s."""
    b = _start(p)
    pieces = decompose_targets(p)
    pos, cols, vals = _pieces_csr(p, pieces)
    b.add(p.targets[pos], cols, vals)
    return b.build(_counts(p, b))


def _aux_or_fallback(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(phi of targets, phi of every old id). Without an auxiliary model: the subword mean of
    the target's pieces and the old embeddings themselves."""
    if p.phi_new is not None and p.phi_old is not None:
        return p.phi_new[p.targets], p.phi_old
    pieces = decompose_targets(p)
    pos, cols, vals = _pieces_csr(p, pieces)
    w = sp.csr_matrix((vals, (pos, cols)), shape=(len(p.targets), p.n_old))
    return np.asarray(w @ p.old_emb.astype(np.float64), dtype=np.float32), p.old_emb


def hybrid_init(
    p: Problem,
    temperature: float = 0.3,
    top_k: int = 3,
    weight: float = 0.3,
    threshold: float = 0.0,
    **_: object,
) -> Recipe:
    """TokenAdapt: ``e(s) = (1 - lambda) e_local(s) + lambda e_global(s)``.

    Local: with pieces ``p_i = old.encode(s)``, ``a_i = softmax_i(cos(phi(s), phi(p_i)))`` and
    ``l_i = len(p_i) / len(s)`` (bytes), ``w = softmax_i(((a_i + l_i) / 2) / T)`` and
    ``e_local = sum_i w_i E[p_i]``. Global: the ``k`` old tokens j of highest
    ``c_j = cos(phi(s), phi(j))`` with ``c_j > tau``, ``w = softmax_j(c_j / T)``,
    ``e_global = sum_j w_j E[j]``. If one estimate is missing the other is used alone; if both
    are, the row is random. Defaults T=0.3, k=3, lambda=0.3, tau=0.
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight (lambda) must be in [0, 1], got {weight}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    b = _start(p)
    n_t = len(p.targets)
    q, keys = _aux_or_fallback(p)
    qn, kn = unit_rows(q), unit_rows(keys)

    # Local: one entry per (target, piece), as CSR arrays (indptr over targets).
    indptr, ids = pieces_csr(decompose_targets(p))
    n_pieces = np.diff(indptr)
    seg = np.repeat(np.arange(n_t), n_pieces)
    cos = np.empty(len(ids), dtype=np.float64)
    for s in range(0, len(ids), 65536):  # rows of qn/kn gathered in chunks: bounded memory
        e = slice(s, s + 65536)
        cos[e] = np.einsum("pd,pd->p", kn[ids[e]], qn[seg[e]])
    lengths = np.array([len(t) if t is not None else 0 for t in p.old.tokens], dtype=np.float64)
    n_bytes = np.array([len(p.new.tokens[i] or b"") for i in p.targets.tolist()], dtype=np.float64)
    attn = segment_softmax(cos, indptr)
    score = (attn + lengths[ids] / np.maximum(n_bytes, 1.0)[seg]) / 2.0
    w_local = segment_softmax(score / temperature, indptr)
    has_local = n_pieces > 0

    # Global: top-k old tokens by cosine, softmax(sim / T) over those above the threshold.
    if top_k > 0:
        gidx, gsim = topk_cosine(qn, kn, top_k)
        keep = gsim > threshold
        z = np.where(keep, gsim.astype(np.float64) / temperature, -np.inf)
        has_global = keep.any(axis=1)
        z[~has_global] = 0.0
        w_global = np.where(keep, softmax(z, axis=1), 0.0)
    else:
        gidx = np.zeros((n_t, 0), dtype=np.int64)
        w_global = np.zeros((n_t, 0))
        keep = np.zeros((n_t, 0), dtype=bool)
        has_global = np.zeros(n_t, dtype=bool)

    both = has_local & has_global
    local_scale = np.where(both, 1.0 - weight, 1.0)
    global_scale = np.where(both, weight, 1.0)
    g_rows = np.broadcast_to(np.arange(n_t)[:, None], gidx.shape)[keep]
    rows = np.concatenate([seg, g_rows])
    cols = np.concatenate([ids, gidx[keep]])
    vals = np.concatenate([w_local * local_scale[seg], (w_global * global_scale[:, None])[keep]])
    if len(rows):
        b.add(p.targets[rows], cols, vals)
    return b.build(_counts(p, b, local=int(has_local.sum())))


def _shared_regular(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """Shared (new id, old id) pairs restricted to regular tokens (the atoms of OMP/FOCUS)."""
    keep = np.array([p.new.tokens[i] is not None for i in p.shared_new.tolist()], dtype=bool)
    return p.shared_new[keep], p.shared_old[keep]


def focus_init(p: Problem, candidates: int = 64, **_: object) -> Recipe:
    """FOCUS-style: ``e(s) = sum_j sparsemax_j(cos(phi(s), phi(j))) E[old(j)]`` over the shared
    tokens j (restricted to the ``candidates`` most similar, which contain the sparsemax support
    in practice). phi: the auxiliary embedding (or the subword-mean fallback)."""
    b = _start(p)
    sn, so = _shared_regular(p)
    if len(sn) == 0 or len(p.targets) == 0:
        return b.build(_counts(p, b))
    q, phi_old = _aux_or_fallback(p)
    keys = phi_old[so]
    idx, sim = topk_cosine(q, keys, candidates)
    w = sparsemax(sim)
    t_pos, c_pos = np.nonzero(w > 0)
    b.add(p.targets[t_pos], so[idx[t_pos, c_pos]], w[t_pos, c_pos])
    return b.build(_counts(p, b))


def omp_space(p: Problem) -> str:
    """Which donor space `omp_init` uses: ``donor``, ``aux`` or ``pieces`` (see there)."""
    if p.donor is not None:
        return "donor"
    if p.phi_new is not None and p.phi_old is not None:
        return "aux"
    return "pieces"


def omp_init(
    p: Problem,
    top_k: int = 8,
    candidates: int = 64,
    convex: bool | None = None,
    batch: int = 512,
    **_: object,
) -> Recipe:
    """OMP (mergekit tokensurgeon): in a donor space D where every new token and every shared
    token j has a vector, ``D(s) ~ sum_{j in S} c_j D(j)`` with S = ``k`` shared tokens chosen by
    orthogonal matching pursuit among the ``candidates`` shared tokens of highest cosine to D(s),
    then ``e(s) = sum_{j in S} c_j E[old(j)]`` (the same coefficients on the base model's rows).

    The donor space, in order of preference (`omp_space`):

    * ``donor``: the input embeddings of a donor model that already uses the new tokenizer,
      ``D(s) = E_donor[s]``, ``D(j) = E_donor[j]`` (any hidden size: only the coefficients
      transfer). Coefficients are free least squares, as in tokensurgeon.
    * ``aux``: the auxiliary sentence embedding, ``D(s) = phi(s)``, ``D(j) = phi(old(j))``. Linear
      relations of that space do not carry over to the base model's space, and free coefficients
      (21% negative, |c| up to 3.5 on SmolLM2 -> a 16k vocabulary) put rows outside the span of
      real embeddings: bits/byte went from 1.65 to 4.3, worse than random. So here the fit is
      *convex*: non-negative OMP, then ``c / sum(c)``, i.e. ``e(s)`` is a weighted average of
      ``k`` shared rows.
    * ``pieces`` (no donor, no aux model): the base model's own space through the old tokenizer's
      pieces, ``D(s) = (1/n) sum_i E[p_i]``, ``D(j) = E[old(j)]``; coefficients transfer exactly
      (same space), so ``e(s)`` is the best k-sparse approximation of the subword mean by shared
      rows.

    ``convex`` (None = automatic: True for ``aux``, False otherwise) forces either fit. A row whose
    non-negative fit is empty falls back to its most similar shared token.
    """
    b = _start(p)
    sn, so = _shared_regular(p)
    if len(sn) == 0 or len(p.targets) == 0:
        return b.build(_counts(p, b))
    space = omp_space(p)
    if convex is None:
        convex = space == "aux"
    if space == "donor":
        d = np.asarray(p.donor, dtype=np.float32)
        q, keys = d[p.targets], d[sn]
    else:
        q, phi_old = _aux_or_fallback(p)
        keys = np.asarray(phi_old)[so]
    idx, _ = topk_cosine(q, keys, candidates)
    for start in range(0, len(p.targets), batch):
        sl = slice(start, start + batch)
        cand = idx[sl]
        chosen, coef = omp(q[sl], keys[cand], top_k, nonneg=convex)
        if convex:
            total = coef.sum(axis=1, keepdims=True)
            empty = total[:, 0] <= 0
            coef = coef / np.where(empty[:, None], 1.0, total)
            coef[empty] = 0.0
            chosen[empty, 0] = 0  # candidate 0 is the most similar shared token
            coef[empty, 0] = 1.0
        atoms = np.take_along_axis(cand, chosen, axis=1)
        keep = coef != 0
        rows = np.repeat(p.targets[sl], atoms.shape[1]).reshape(atoms.shape)
        b.add(rows[keep], so[atoms[keep]], coef[keep])
    return b.build(_counts(p, b, **{f"omp_{space}": len(p.targets)}))


INITS: dict[str, Callable[..., Recipe]] = {
    "hybrid": hybrid_init,
    "omp": omp_init,
    "focus": focus_init,
    "subword-mean": subword_mean_init,
    "mean": mean_init,
    "random": random_init,
}


def recipe(method: str, problem: Problem, **options: object) -> Recipe:
    """Run one method (see `METHODS`) on a prepared `Problem`."""
    fn = INITS.get(method)
    if fn is None:
        raise ValueError(
            f"unknown transplant method {method!r}; expected one of {', '.join(METHODS)}"
        )
    return fn(problem, **options)
