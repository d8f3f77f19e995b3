"""How many people, and which window is whose: spectral clustering judged on the recording's own spread.

A fixed cosine cut-off learnt on clean read speech fails on real recordings: on a telephone line
two women's windows are 0.3-0.5 alike, as alike as one person's windows are in a noisy room
(shared/notes/speakers.md). So nothing here compares a similarity with a constant:

- the number of speakers comes from the eigengap of the graph Laplacian of a pruned affinity
  (each window keeps its most similar neighbours), as 3D-Speaker and senko cluster audio;
- two clusters stay two speakers only when they are far apart *for this recording*: the
  similarity between them is at least SEPARATION pooled standard deviations below the similarity
  within them (d'). One speaker split in two by the eigengap sits at d' 0.4-1.4 in every channel
  we measured; two people sit at 2-4 (benchmarks/bench_speakers.py prints both);
- clusters too small to be anyone (an odd window, a cough) join the closest large one;
- where the segmentation model heard two clusters as two people (its local speakers of one
  chunk), 1.2 is enough: café babble at 5 dB brings two people's windows to d' 1.4-1.6.

An hour is ~2,500 windows: the affinity is kept sparse (top neighbours per row) and only the
few smallest eigenvectors are computed (scipy.sparse.linalg.eigsh), instead of a dense 2,500²
eigendecomposition.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_SPEAKERS = 8
PRUNE_SHARE = 0.012  # 3D-Speaker's p-pruning: each row keeps its top 1.2 % ...
MIN_NEIGHBOURS = 6  # ... and never fewer than this
SEPARATION = 1.6  # d' between two clusters of different people (see the module docstring)
SEPARATION_HELD = 1.2  # ... when the segmentation model holds them apart (_merge_close)
HELD_PAIRS = 3
MIN_CLUSTER = 3  # windows (4.5 s): fewer is an odd window, not a person
DENSE_MAX = 600  # above this many windows the eigenvectors come from a sparse solver


def cluster(
    embeddings: np.ndarray, groups: Sequence[tuple[int, int] | None] | None = None
) -> np.ndarray:
    """Cluster index per window (L2-normalised rows), 0 = the cluster with the most windows.

    `groups`: each window's (chunk, local speaker) by the segmentation model, when known: windows
    of two local speakers of one chunk are not linked in the affinity, and a small cluster the
    model holds apart from the large one it would join, and which is less alike to it than that
    cluster's own windows are, stays apart. (Windows of one local speaker are not forced
    together: where the model misses a change, the embeddings must still be free to see it.)
    """
    n = len(embeddings)
    if n < 2:
        return np.zeros(n, dtype=np.int64)
    apart = _apart_pairs(groups) if groups is not None else np.zeros((0, 2), np.int64)
    labels = _spectral(embeddings, apart) if n >= 2 * MIN_CLUSTER else np.zeros(n, np.int64)
    if labels.max() == 0 and len(apart):
        labels = _minority(embeddings, apart)
    labels = _absorb_small(embeddings, labels, apart)
    labels = _merge_close(embeddings, labels, apart)
    return _by_size(labels)


def _apart_pairs(groups: Sequence[tuple[int, int] | None]) -> np.ndarray:
    """(m, 2) pairs of windows the segmentation heard as two people: one chunk, two locals."""
    by_chunk: dict[int, list[tuple[int, int]]] = {}
    for i, g in enumerate(groups):
        if g is not None:
            by_chunk.setdefault(g[0], []).append((i, g[1]))
    pairs = [(i, j) for members in by_chunk.values()
             for a, (i, li) in enumerate(members) for j, lj in members[a + 1 :] if li != lj]  # fmt: skip
    return np.array(pairs, np.int64).reshape(-1, 2)


def _minority(embeddings: np.ndarray, apart: np.ndarray) -> np.ndarray:
    """When the eigengap sees one person but the segmentation model heard two in one chunk: of
    each pair held apart, the window less alike to the whole recording, split off for the checks
    that follow (absorption, separation) to confirm or undo."""
    mean = embeddings.mean(0)
    closeness = embeddings @ mean
    minority = np.zeros(len(embeddings), bool)
    for i, j in apart:
        minority[i if closeness[i] < closeness[j] else j] = True
    return minority.astype(np.int64)


def separation(embeddings: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """d' of two groups of windows (boolean masks): how far the similarity between them lies
    below the similarity within them, in pooled standard deviations."""
    ea, eb = embeddings[a], embeddings[b]
    within = np.concatenate([_upper(ea @ ea.T), _upper(eb @ eb.T)])
    between = (ea @ eb.T).ravel()
    if len(within) < 2 or len(between) < 2:
        return 0.0
    spread = np.sqrt(0.5 * (within.var() + between.var()))
    return float((within.mean() - between.mean()) / max(spread, 1e-6))


def _upper(s: np.ndarray) -> np.ndarray:
    return s[np.triu_indices(len(s), 1)]


def affinity(embeddings: np.ndarray, apart: np.ndarray | None = None) -> np.ndarray | object:
    """The symmetrised, pruned cosine affinity (diagonal zero): dense for a few hundred windows,
    a scipy sparse matrix above DENSE_MAX, built a block of rows at a time; pairs `apart` are 0."""
    n = len(embeddings)
    keep = max(MIN_NEIGHBOURS, int(np.ceil(PRUNE_SHARE * n)))
    keep = min(keep, n - 1)
    rows, cols, vals = [], [], []
    for a in range(0, n, 512):
        s = embeddings[a : a + 512] @ embeddings.T
        s[np.arange(len(s)), np.arange(a, a + len(s))] = -np.inf  # no self-loops
        top = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
        rows.append(np.repeat(np.arange(a, a + len(s)), keep))
        cols.append(top.ravel())
        vals.append(np.maximum(np.take_along_axis(s, top, axis=1).ravel(), 0.0))
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    apart = np.zeros((0, 2), np.int64) if apart is None else apart
    if n <= DENSE_MAX:
        a_ = np.zeros((n, n))
        a_[r, c] = v
        a_ = 0.5 * (a_ + a_.T)
        a_[apart[:, 0], apart[:, 1]] = a_[apart[:, 1], apart[:, 0]] = 0.0
        return a_
    from scipy.sparse import coo_matrix

    m = coo_matrix((v, (r, c)), shape=(n, n)).tocsr()
    m = ((m + m.T) * 0.5).tolil()
    for i, j in apart:
        m[i, j] = m[j, i] = 0.0
    return m.tocsr()


def _spectral(embeddings: np.ndarray, apart: np.ndarray) -> np.ndarray:
    """Eigengap on the unnormalised Laplacian's smallest eigenvalues, then k-means on that many
    eigenvectors."""
    n = len(embeddings)
    a = affinity(embeddings, apart)
    k_max = min(MAX_SPEAKERS, n - 2)
    if isinstance(a, np.ndarray):
        laplacian = np.diag(a.sum(1)) - a
        values, vectors = np.linalg.eigh(laplacian)
        values, vectors = values[: k_max + 1], vectors[:, : k_max + 1]
    else:
        values, vectors = _smallest_sparse(a, k_max + 1)
    k = int(np.argmax(np.diff(values))) + 1
    if k == 1:
        return np.zeros(n, dtype=np.int64)
    return _kmeans(vectors[:, :k], k)


def _smallest_sparse(a: object, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k smallest eigenpairs of the Laplacian of sparse `a`, by the largest ones of
    (c I - L), which Lanczos finds quickly (the smallest directly converge slowly)."""
    from scipy.sparse import diags, identity
    from scipy.sparse.linalg import eigsh

    degree = np.asarray(a.sum(axis=1)).ravel()  # type: ignore[attr-defined]
    laplacian = diags(degree) - a
    c = 2.0 * float(degree.max()) + 1e-9  # Gershgorin: every eigenvalue of L is below this
    shifted = c * identity(len(degree)) - laplacian
    values, vectors = eigsh(shifted, k=k, which="LA", tol=1e-6, v0=np.ones(len(degree)))
    order = np.argsort(-values)
    return c - values[order], vectors[:, order]


def _kmeans(points: np.ndarray, k: int) -> np.ndarray:
    from scipy.cluster.vq import kmeans2

    best, best_cost = None, np.inf
    for seed in range(4):  # a few starts: k-means++ can land badly on small inputs
        centres, labels = kmeans2(points, k, minit="++", seed=seed)
        cost = float(((points - centres[labels]) ** 2).sum())
        if cost < best_cost:
            best, best_cost = labels, cost
    assert best is not None
    return np.unique(best, return_inverse=True)[1]


def centroids(embeddings: np.ndarray, labels: np.ndarray) -> np.ndarray:
    c = np.stack([embeddings[labels == k].mean(0) for k in range(int(labels.max()) + 1)])
    return c / np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)


def _absorb_small(embeddings: np.ndarray, labels: np.ndarray, apart: np.ndarray) -> np.ndarray:
    """Clusters smaller than MIN_CLUSTER join the closest large cluster, unless the segmentation
    model held them apart from it and they are less alike to it than its own windows are."""
    sizes = np.bincount(labels)
    large = np.flatnonzero(sizes >= MIN_CLUSTER)
    if len(large) == 0:
        large = np.array([int(np.argmax(sizes))])
    if len(large) == len(sizes):
        return labels
    c = centroids(embeddings, labels)
    out = labels.copy()
    for k in np.flatnonzero(sizes < MIN_CLUSTER):
        if k in large:
            continue
        members = labels == k
        target = int(large[np.argmax(c[large] @ c[k])])
        own = embeddings[labels == target] @ c[target]
        held = _held_apart(apart, members, labels == target)
        if held and float((embeddings[members] @ c[target]).mean()) < np.percentile(own, 10):
            continue
        out[members] = target
    return np.unique(out, return_inverse=True)[1]


def _held_apart(apart: np.ndarray, a: np.ndarray, b: np.ndarray) -> bool:
    return _pairs_across(apart, a, b) > 0


def _pairs_across(apart: np.ndarray, a: np.ndarray, b: np.ndarray) -> int:
    return int(np.sum((a[apart[:, 0]] & b[apart[:, 1]]) | (b[apart[:, 0]] & a[apart[:, 1]])))


def _merge_close(embeddings: np.ndarray, labels: np.ndarray, apart: np.ndarray) -> np.ndarray:
    """Merge the least separated pair of clusters while it is below SEPARATION (SEPARATION_HELD
    when the segmentation model heard the two as different people in HELD_PAIRS or more pairs
    of windows: in café babble two people's windows come closer, and the model still tells them
    apart), then give every window to the centroid it is closest to."""
    while labels.max() > 0:
        k = int(labels.max()) + 1
        pairs = []
        for i in range(k):
            for j in range(i + 1, k):
                held = _pairs_across(apart, labels == i, labels == j) >= HELD_PAIRS
                d = separation(embeddings, labels == i, labels == j)
                if d < (SEPARATION_HELD if held else SEPARATION):
                    pairs.append((d, i, j))
        if not pairs:
            break
        _, i, j = min(pairs)
        labels = np.unique(np.where(labels == j, i, labels), return_inverse=True)[1]
    if labels.max() > 0:
        labels = np.argmax(embeddings @ centroids(embeddings, labels).T, axis=1)
        labels = np.unique(labels, return_inverse=True)[1]
    return labels


def _by_size(labels: np.ndarray) -> np.ndarray:
    order = np.argsort(-np.bincount(labels), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels]
