"""The layer x layer similarity grid (with its permutation nulls) in torch against a straightforward numpy reference.

minilm-l6 against minilm-l3 (7 x 4 hidden states) on the same task rows, every measure with `--permutations` null
draws (no bootstrap: the nulls are what the target names). Four timings, in one run:
- cold: the feature cache is empty; both models encode the rows, then the torch grids;
- cached: the same again, features read back from the cache;
- torch grids alone, on the cached features;
- numpy (the baseline): the same measures, cell by cell, written the plain way (each layer's Gram matrix for CKA,
  an SVD per cell for Procrustes, sorted neighbour lists for mutual kNN), on the same features and permutations.

Targets (issue "layer correspondence"): the cached heatmap with 10-permutation nulls under 5 s on a 2-core CPU; the
torch grids at least 3x the numpy reference; identical values (atol 1e-5).

    .venv/bin/python bench/layer_similarity.py [--rows 2000] [--permutations 10]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time


def numpy_grid(measure: str, a: list, b: list, orders: list, k: int, width: int):
    """(observed, null mean) per cell, the plain way: each cell and each permutation computed on its own."""
    import numpy as np

    def centred(x):
        return x - x.mean(0)

    def hsic(gx, gy):  # the unbiased estimator on Gram matrices with zeroed diagonals
        n = len(gx)
        gx, gy = gx.copy(), gy.copy()
        np.fill_diagonal(gx, 0)
        np.fill_diagonal(gy, 0)
        return (gx * gy).sum() + gx.sum() * gy.sum() / ((n - 1) * (n - 2)) - 2 / (n - 2) * (gx.sum(0) @ gy.sum(1))

    def cka(gx, gy):
        return hsic(gx, gy) / np.sqrt(hsic(gx, gx) * hsic(gy, gy))

    def pca(x):
        x = centred(x)
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        return x @ vt[:width].T

    def procrustes(x, y):
        x, y = centred(x), centred(y)
        x, y = x / np.linalg.norm(x), y / np.linalg.norm(y)
        return np.sqrt(max(0.0, 2 - 2 * np.linalg.svd(x.T @ y, compute_uv=False).sum()))

    def neighbours(x):
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        similarity = unit @ unit.T
        np.fill_diagonal(similarity, -np.inf)
        return np.argsort(-similarity, axis=1, kind="stable")[:, :k]  # ties by row order, as the torch path

    def knn(na, nb):
        return np.mean([len(set(na[i]) & set(nb[i])) / k for i in range(len(na))])

    if measure == "procrustes":
        a, b = [pca(x) for x in a], [pca(y) for y in b]
    if measure == "mutual_knn":
        na, nb = [neighbours(x) for x in a], [neighbours(y) for y in b]
        observed = np.array([[knn(x, y) for y in nb] for x in na])
        nulls = [
            np.array([[knn(x, np.argsort(order)[y[order]]) for y in nb] for x in na]) for order in orders
        ]  # B's neighbour lists re-paired with a permutation of the rows
    elif measure == "cka":
        ga, gb = [centred(x) @ centred(x).T for x in a], [centred(y) @ centred(y).T for y in b]
        observed = np.array([[cka(x, y) for y in gb] for x in ga])
        nulls = [np.array([[cka(x, y[order][:, order]) for y in gb] for x in ga]) for order in orders]
    else:
        observed = np.array([[procrustes(x, y) for y in b] for x in a])
        nulls = [np.array([[procrustes(x, y[order]) for y in b] for x in a]) for order in orders]
    return observed, np.mean(nulls, axis=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", default="minilm-l6")
    parser.add_argument("--b", default="minilm-l3")
    parser.add_argument("--task", default="tweets-binary")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--permutations", type=int, default=10)
    parser.add_argument("--width", type=int, default=128, help="procrustes' common PCA width")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    os.environ["EMBEDXFER_CACHE"] = tempfile.mkdtemp(prefix="layer-similarity-bench-")
    import numpy as np
    import torch

    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.experiments.layer_similarity.measures import MEASURES, measure_grid
    from embedxfer.features import layer_features
    from embedxfer.tasks import load_task

    task, rows = load_task(args.task), np.arange(args.rows)
    for checkpoint in (args.a, args.b):
        load_checkpoint(checkpoint)  # loading is not what is measured

    def features():
        return [layer_features(c, task, "train", rows, max_length=args.max_length).features for c in (args.a, args.b)]

    def torch_grids(fa, fb):
        a, b = (torch.as_tensor(f).permute(1, 0, 2).double() for f in (fa, fb))
        return {
            m: measure_grid(m, a, b, k=10, width=args.width, permutations=args.permutations, bootstraps=0, seed=0)
            for m in MEASURES
        }

    start = time.perf_counter()
    torch_grids(*features())
    cold = time.perf_counter() - start
    start = time.perf_counter()
    fa, fb = features()
    grids = torch_grids(fa, fb)
    cached = time.perf_counter() - start
    start = time.perf_counter()
    torch_grids(fa, fb)
    grids_only = time.perf_counter() - start

    # the numpy reference sees the very permutations the torch path drew (same generator, same order of draws)
    generator = torch.Generator().manual_seed(0)
    orders = [torch.randperm(args.rows, generator=generator).numpy() for _ in range(args.permutations)]
    a = [fa[:, layer].astype(np.float64) for layer in range(fa.shape[1])]
    b = [fb[:, layer].astype(np.float64) for layer in range(fb.shape[1])]
    start = time.perf_counter()
    reference = {m: numpy_grid(m, a, b, orders, 10, min(args.width, fa.shape[2], fb.shape[2])) for m in MEASURES}
    numpy_seconds = time.perf_counter() - start

    gaps = {
        m: max(
            float(np.abs(grids[m].observed - reference[m][0]).max()),
            float(np.abs(grids[m].null_mean - reference[m][1]).max()),
        )
        for m in MEASURES
    }
    results = {
        "cells": f"{fa.shape[1]} x {fb.shape[1]}",
        "rows": args.rows,
        "permutations": args.permutations,
        "cold_s": round(cold, 2),
        "cached_s": round(cached, 2),
        "torch_grids_s": round(grids_only, 2),
        "numpy_reference_s": round(numpy_seconds, 2),
        "cold_over_cached": round(cold / cached, 1),
        "numpy_over_torch_grids": round(numpy_seconds / grids_only, 1),
        "numpy_over_cached": round(numpy_seconds / cached, 1),
        "max_abs_difference": {m: float(f"{g:.2e}") for m, g in gaps.items()},
    }
    print(f"{args.a} x {args.b}: {results['cells']} hidden states, {args.rows} rows, {args.permutations} permutations")
    print(f"  cold (encode + grids)      {cold:8.2f} s")
    print(f"  cached features + grids    {cached:8.2f} s   target < 5 s: {'met' if cached < 5 else 'MISSED'}")
    print(f"  torch grids alone          {grids_only:8.2f} s")
    print(f"  numpy reference (baseline) {numpy_seconds:8.2f} s")
    print(
        f"  ratios: cold/cached {cold / cached:.1f}x, numpy/torch grids {numpy_seconds / grids_only:.1f}x "
        f"(target >= 3x: {'met' if numpy_seconds / grids_only >= 3 else 'MISSED'}), numpy/cached "
        f"{numpy_seconds / cached:.1f}x"
    )
    agree = all(g <= 1e-5 for g in gaps.values())
    print(f"  max |torch - numpy|: {results['max_abs_difference']} (target atol 1e-5: {'met' if agree else 'MISSED'})")
    if args.json:
        with open(args.json, "w") as out:
            json.dump(results, out, indent=1)
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
