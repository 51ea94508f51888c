"""The explorer's UMAP map of a full token-embedding matrix against umap-learn with default settings, in one run.

On minilm-l6's 30,522 x 384 token-embedding matrix:
- baseline: `umap.UMAP(random_state=0)` with every other setting at its default, timed in a fresh process (import +
  first fit, numba compiling) and warm (a second fit in the same process);
- explorer: `embedxfer.analysis.projection.project(matrix, "umap")`, the path the embedding_map kind runs, in a fresh
  process, warm (the cache emptied first, so it computes) and cached (the same request again).
Both maps are scored on a fixed sample of 2,000 rows: trustworthiness (scikit-learn, 15 neighbours) and kNN
recall@15 (share of a row's 15 nearest rows at full width that are among its 15 nearest on the map).

Targets (docs/architecture.md, "Embedding explorer"): warm map >= 2x faster than the baseline's warm fit with scores
within 0.02 of the baseline's; cached < 1 s; first map in a fresh process < 30 s.

With `--tsne N`: scikit-learn's t-SNE (what the explorer runs) against openTSNE (when installed) on the same N-row
sample, both on its 50 principal components, perplexity 30, PCA init, seed 0: times and the same two scores.

    .venv/bin/python bench/projection.py [--checkpoint minilm-l6] [--json out.json] [--tsne 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(mode: str, matrix_path: str, out_path: str) -> None:
    """One measurement in this (fresh) process: times and the map, written to `out_path`."""
    import numpy as np

    started = time.perf_counter()
    matrix = np.load(matrix_path)
    if mode.startswith("baseline"):
        import umap

        fit = lambda: umap.UMAP(random_state=0).fit_transform(matrix)  # noqa: E731 - the baseline, as users call it
    else:
        from embedxfer.analysis.projection import project

        fit = lambda: project(matrix, "umap", seed=0).coords  # noqa: E731
    coords = fit()
    first = time.perf_counter() - started
    times = {"fresh": first}
    if mode.endswith("warm"):
        if not mode.startswith("baseline"):
            import shutil

            shutil.rmtree(os.environ["EMBEDXFER_CACHE"], ignore_errors=True)  # compute again, not read
        t = time.perf_counter()
        coords = fit()
        times["warm"] = time.perf_counter() - t
        if not mode.startswith("baseline"):
            t = time.perf_counter()
            from embedxfer.analysis.projection import project

            hit = project(matrix, "umap", seed=0)
            times["cached"] = time.perf_counter() - t
            times["cached_flag"] = float(hit.cached)
    np.save(out_path + ".npy", coords)
    Path(out_path).write_text(json.dumps(times))


def _run_child(mode: str, matrix_path: str, cache: str) -> dict:
    out = tempfile.mktemp(prefix=f"projection-{mode}-")
    env = {**os.environ, "EMBEDXFER_CACHE": cache, "PYTHONPATH": str(ROOT)}
    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--child", mode, matrix_path, out], check=True, env=env)
    wall = time.perf_counter() - t
    import numpy as np

    result = json.loads(Path(out).read_text())
    result["process_wall"] = wall
    result["coords"] = np.load(out + ".npy")
    return result


def _scores(matrix, coords, sample) -> dict[str, float]:
    import numpy as np
    from sklearn.manifold import trustworthiness

    from embedxfer.analysis.projection import _knn

    full, flat = _knn(matrix, sample, 15), _knn(coords.astype(np.float32), sample, 15)
    recall = float(np.mean([len(set(a) & set(b)) for a, b in zip(full, flat, strict=True)]) / 15)
    return {
        "trustworthiness": float(trustworthiness(matrix[sample], coords[sample], n_neighbors=15)),
        "recall@15": recall,
    }


def _tsne_libraries(matrix, rows: int) -> dict[str, dict[str, float]]:
    """scikit-learn vs openTSNE on one fixed sample (same input, same perplexity and init)."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    chosen = np.random.default_rng(1).choice(matrix.shape[0], rows, replace=False)
    reduced = PCA(50, random_state=0).fit_transform(matrix[chosen]).astype(np.float32)
    scored = np.random.default_rng(2).choice(rows, min(2000, rows), replace=False)
    fits = {
        "scikit-learn": lambda: TSNE(perplexity=30, init="pca", random_state=0).fit_transform(reduced),
    }
    try:
        from openTSNE import TSNE as OpenTSNE

        fits["openTSNE"] = lambda: np.asarray(
            OpenTSNE(perplexity=30, initialization="pca", random_state=0, n_jobs=2).fit(reduced)
        )
    except ImportError:
        print("openTSNE is not installed (pip install openTSNE to compare it)")
    out = {}
    for name, fit in fits.items():
        t = time.perf_counter()
        coords = fit()
        out[name] = {"seconds": time.perf_counter() - t, **_scores(reduced, np.asarray(coords), scored)}
        print(
            f"t-SNE {name:<13} {rows:,} rows: {out[name]['seconds']:6.1f} s, trustworthiness "
            f"{out[name]['trustworthiness']:.4f}, recall@15 {out[name]['recall@15']:.4f}"
        )
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(*sys.argv[2:5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="minilm-l6")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--tsne", type=int, default=0, help="also compare t-SNE libraries on this many rows")
    args = parser.parse_args()
    import numpy as np

    from embedxfer.analysis.vocab import token_table

    matrix = np.ascontiguousarray(token_table(args.checkpoint).matrix, dtype=np.float32)
    work = Path(tempfile.mkdtemp(prefix="projection-bench-"))
    np.save(work / "matrix.npy", matrix)
    print(f"{args.checkpoint}: {matrix.shape[0]:,} x {matrix.shape[1]} token-embedding matrix, 2 cores")
    sample = np.random.default_rng(0).choice(matrix.shape[0], 2000, replace=False)
    runs = {
        "baseline": _run_child("baseline-warm", str(work / "matrix.npy"), str(work / "cache-baseline")),
        "explorer": _run_child("explorer-warm", str(work / "matrix.npy"), str(work / "cache-explorer")),
    }
    rows = {}
    for name, run in runs.items():
        rows[name] = {
            "fresh_s": run["fresh"],
            "warm_s": run["warm"],
            "cached_s": run.get("cached"),
            **_scores(matrix, run["coords"], sample),
        }
    base, ours = rows["baseline"], rows["explorer"]
    print(f"{'path':<10} {'fresh s':>9} {'warm s':>8} {'cached s':>9} {'trustw.':>8} {'recall@15':>10}")
    for name, row in rows.items():
        cached = f"{row['cached_s']:.3f}" if row["cached_s"] is not None else "-"
        print(
            f"{name:<10} {row['fresh_s']:>9.1f} {row['warm_s']:>8.1f} {cached:>9} {row['trustworthiness']:>8.4f} "
            f"{row['recall@15']:>10.4f}"
        )
    ratios = {
        "warm_speedup": base["warm_s"] / ours["warm_s"],
        "fresh_speedup": base["fresh_s"] / ours["fresh_s"],
        "trustworthiness_delta": ours["trustworthiness"] - base["trustworthiness"],
        "recall_delta": ours["recall@15"] - base["recall@15"],
    }
    print(
        f"warm: explorer {ratios['warm_speedup']:.2f}x faster than umap-learn defaults (target >= 2x); "
        f"fresh process {ours['fresh_s']:.1f} s (target < 30 s); cached {ours['cached_s']:.3f} s (target < 1 s)"
    )
    print(
        f"neighbour preservation, explorer minus baseline: trustworthiness {ratios['trustworthiness_delta']:+.4f}, "
        f"recall@15 {ratios['recall_delta']:+.4f} (target: within 0.02)"
    )
    tsne = _tsne_libraries(matrix, args.tsne) if args.tsne else {}
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "ratios": ratios, "tsne": tsne}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
