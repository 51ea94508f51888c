"""2-D projections (PCA, UMAP, t-SNE) of a matrix's rows, cached on disk by (matrix fingerprint, method,
parameters, seed): a repeated request reads the cached coordinates and computes nothing.

The UMAP path (euclidean metric) first reduces the rows to `UMAP_PCA_WIDTH` dimensions by PCA when they are wider,
and runs `UMAP_LARGE_EPOCHS` optimisation epochs on large inputs instead of umap-learn's 200; it stays seeded
(deterministic, single-threaded). On minilm-l6's 30,522 x 384 matrix that took 5.9-9.6 s against 12.7-18.0 s for
umap-learn's defaults warm (1.9-2.2x, two sessions), trustworthiness@15 0.616 vs 0.568, kNN recall@15 0.049 vs
0.067-0.070 (docs/architecture.md, "Embedding explorer"; `bench/projection.py` measures both in one run).
Unseeded parallel UMAP was faster still but not reproducible, and a cached map must mean one map per seed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from embedxfer.errors import ConfigError
from embedxfer.paths import cache_dir, write_atomic

METHODS = ("pca", "umap", "tsne")
#: Each method's parameters and their defaults (umap-learn's and scikit-learn's own defaults).
DEFAULTS: dict[str, dict[str, Any]] = {
    "pca": {},
    "umap": {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean"},
    "tsne": {"perplexity": 30.0},
}
UMAP_METRICS = ("euclidean", "cosine", "manhattan", "correlation")
UMAP_PCA_WIDTH = 50
#: epochs for inputs over umap-learn's own large-data threshold (10,000 rows; it runs 200 there)
UMAP_LARGE_EPOCHS = 100
_FORMAT = 1


@dataclass(frozen=True)
class Projection:
    coords: np.ndarray  # (rows, 2) float32
    cached: bool  # served from the cache, nothing computed
    seconds: float  # time to compute (or, when cached, to read)
    key: str


def method_params(method: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """`method`'s parameters: the defaults, overridden by `given` (only the ones that method has)."""
    if method not in METHODS:
        raise ConfigError(f"Unknown projection method {method!r}; use one of {', '.join(METHODS)}.")
    return {name: given.get(name, default) for name, default in DEFAULTS[method].items()}


def check_projection(method: str, params: Mapping[str, Any], rows: int) -> None:
    """ConfigError when `method` cannot project `rows` rows with `params` (said before any work starts)."""
    if rows < 3:
        raise ConfigError(f"A 2-D map needs at least 3 rows, got {rows}.")
    if method == "umap":
        if params["metric"] not in UMAP_METRICS:
            raise ConfigError(f"UMAP metric {params['metric']!r} is not offered; use one of {', '.join(UMAP_METRICS)}.")
        if not 2 <= int(params["n_neighbors"]) < rows:
            raise ConfigError(
                f"UMAP n_neighbors must be between 2 and rows - 1 ({rows - 1}), got {params['n_neighbors']}."
            )
        if not 0.0 <= float(params["min_dist"]) <= 1.0:
            raise ConfigError(f"UMAP min_dist must be between 0 and 1, got {params['min_dist']}.")
    if method == "tsne":
        perplexity = float(params["perplexity"])
        if perplexity <= 0 or perplexity >= rows:
            raise ConfigError(
                f"t-SNE perplexity {perplexity:g} is too large for {rows} rows: it must be below the number of rows "
                f"(a common choice is 5-50); lower it or project more rows."
            )


def matrix_fingerprint(matrix: np.ndarray) -> str:
    """blake2b over the float32 bytes and the shape: any changed value gives another key."""
    data = np.ascontiguousarray(matrix, dtype=np.float32)
    digest = hashlib.blake2b(digest_size=12)
    digest.update(str(data.shape).encode())
    digest.update(data.data)
    return digest.hexdigest()


def projection_key(fingerprint: str, method: str, params: Mapping[str, Any], seed: int) -> str:
    text = json.dumps([_FORMAT, fingerprint, method, dict(sorted(params.items())), int(seed)], default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def project(
    matrix: np.ndarray,
    method: str,
    params: Mapping[str, Any] | None = None,
    seed: int = 0,
    *,
    progress: Callable[[str], None] | None = None,
) -> Projection:
    """The 2-D map of `matrix`'s rows by `method`, from the cache when this exact map was computed before."""
    params = method_params(method, params or {})
    check_projection(method, params, matrix.shape[0])
    started = time.perf_counter()
    key = projection_key(matrix_fingerprint(matrix), method, params, seed)
    path = cache_dir("projections") / f"{key}.npy"
    if path.exists():
        coords = np.load(path)
        if coords.shape == (matrix.shape[0], 2):
            return Projection(coords, True, time.perf_counter() - started, key)
    if progress:
        progress(f"computing the {method} map of {matrix.shape[0]:,} rows")
    coords = _compute(np.asarray(matrix, dtype=np.float32), method, params, seed).astype(np.float32)
    _save(path, coords, {"method": method, "params": params, "seed": seed, "rows": matrix.shape[0]})
    return Projection(coords, False, time.perf_counter() - started, key)


def _save(path, coords: np.ndarray, meta: dict[str, Any]) -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, coords)
    write_atomic(path, buffer.getvalue())
    write_atomic(path.with_suffix(".json"), meta)


def _compute(matrix: np.ndarray, method: str, params: dict[str, Any], seed: int) -> np.ndarray:
    if method == "pca":
        return _pca(matrix, 2, seed)
    if method == "umap":
        return _umap(matrix, params, seed)
    return _tsne(matrix, params, seed)


def _pca(matrix: np.ndarray, width: int, seed: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    width = min(width, *matrix.shape)
    return PCA(n_components=width, random_state=seed, svd_solver="full").fit_transform(matrix)


def _umap(matrix: np.ndarray, params: dict[str, Any], seed: int) -> np.ndarray:
    import umap

    data = matrix
    if params["metric"] in ("euclidean",) and matrix.shape[1] > UMAP_PCA_WIDTH and matrix.shape[0] > UMAP_PCA_WIDTH:
        data = _pca(matrix, UMAP_PCA_WIDTH, seed)
    reducer = umap.UMAP(
        n_neighbors=int(params["n_neighbors"]),
        min_dist=float(params["min_dist"]),
        metric=params["metric"],
        n_epochs=UMAP_LARGE_EPOCHS if data.shape[0] > 10_000 else None,
        random_state=seed,
        n_jobs=1,  # a seeded umap-learn runs single-threaded anyway (and warns when asked for more)
    )
    return reducer.fit_transform(data)


def _tsne(matrix: np.ndarray, params: dict[str, Any], seed: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    data = _pca(matrix, 50, seed) if matrix.shape[1] > 50 else matrix
    return TSNE(perplexity=float(params["perplexity"]), init="pca", random_state=seed).fit_transform(data)


def neighbour_recall(matrix: np.ndarray, coords: np.ndarray, k: int = 15, sample: int = 2000, seed: int = 0) -> float:
    """Mean share of each sampled row's k nearest rows (euclidean, full width) that are also among its k nearest on
    the 2-D map: how much of the neighbourhood structure the map keeps (1 = all of it)."""
    rows = matrix.shape[0]
    k = min(k, rows - 1)
    picked = np.random.default_rng(seed).choice(rows, size=min(sample, rows), replace=False)
    full = _knn(np.asarray(matrix, dtype=np.float32), picked, k)
    flat = _knn(np.asarray(coords, dtype=np.float32), picked, k)
    hits = [len(set(a) & set(b)) for a, b in zip(full, flat, strict=True)]
    return float(np.mean(hits) / k)


def _knn(data: np.ndarray, queries: np.ndarray, k: int, chunk: int = 512) -> np.ndarray:
    squared = (data * data).sum(axis=1)
    out = np.empty((len(queries), k), dtype=np.int64)
    for start in range(0, len(queries), chunk):
        rows = queries[start : start + chunk]
        dist = squared[rows, None] - 2.0 * data[rows] @ data.T + squared[None, :]
        dist[np.arange(len(rows)), rows] = np.inf  # a row is not its own neighbour
        part = np.argpartition(dist, k, axis=1)[:, :k]
        out[start : start + len(rows)] = part
    return out
