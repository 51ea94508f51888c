"""All-layer probing with the feature cache against a naive re-encode per layer, in one run.

Three ways to probe every layer (0..L) of a checkpoint on the same rows, each timed end to end (features + the
probes of every layer):
- cold: the cache is empty; one forward pass with every hidden state fills it, then one probe per layer;
- cached: the same again, features read back from the cache;
- naive (the baseline): for each layer, a fresh forward pass over all rows, keeping only that layer.

Targets (docs/architecture.md, "Feature cache"): cached >= 10x faster than cold; cold >= (L+1)/2 x faster than
naive. `--probe none` times the features alone (what the cache changes); the default times the whole probe.

    .venv/bin/python bench/probe_cache.py [--checkpoint minilm-l6] [--rows 5000] [--probe logistic|none]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="minilm-l6")
    parser.add_argument("--task", default="tweets-binary")
    parser.add_argument("--rows", type=int, default=5000, help="training rows probed (test rows: a fifth as many)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--probe", choices=("logistic", "none"), default="logistic")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()

    os.environ["EMBEDXFER_CACHE"] = tempfile.mkdtemp(prefix="probe-cache-bench-")
    import numpy as np

    from embedxfer.checkpoints import arch_info, load_checkpoint
    from embedxfer.features import encode_layers, layer_features
    from embedxfer.probes import fit_probe
    from embedxfer.tasks import load_task

    task = load_task(args.task)
    layers = arch_info(args.checkpoint).num_layers + 1
    train_rows = task.subsample_indices(args.rows, 0)
    test_rows = np.arange(min(len(task.test), max(1, args.rows // 5)))
    train_y, test_y = task.train.labels[train_rows], task.test.labels[test_rows]
    load_checkpoint(args.checkpoint)  # loading is not what is measured

    def probe(layer: int, train_x: np.ndarray, test_x: np.ndarray) -> float:
        if args.probe == "none":
            return float("nan")
        return fit_probe(train_x, train_y, test_x, test_y, probe="logistic", seed=0).score

    def with_cache() -> list[float]:
        train = layer_features(args.checkpoint, task, "train", train_rows, max_length=args.max_length).features
        test = layer_features(args.checkpoint, task, "test", test_rows, max_length=args.max_length).features
        return [probe(layer, train[:, layer], test[:, layer]) for layer in range(layers)]

    def naive() -> list[float]:
        scores = []
        train_texts = [task.train.inputs[i] for i in train_rows]
        test_texts = [task.test.inputs[i] for i in test_rows]
        for layer in range(layers):
            train = encode_layers(args.checkpoint, train_texts, "mean", args.max_length)[:, layer]
            test = encode_layers(args.checkpoint, test_texts, "mean", args.max_length)[:, layer]
            scores.append(probe(layer, train, test))
        return scores

    timings, scores = {}, {}
    for name, run in (("cold", with_cache), ("cached", with_cache), ("naive", naive)):
        start = time.perf_counter()
        scores[name] = run()
        timings[name] = time.perf_counter() - start
        print(f"{name:>7}: {timings[name]:8.2f} s", flush=True)
    same = all(np.allclose(scores["cold"], scores[k], equal_nan=True) for k in ("cached", "naive"))
    cached_ratio = timings["cold"] / timings["cached"]
    naive_ratio = timings["naive"] / timings["cold"]
    target = layers / 2
    print(
        f"checkpoint {args.checkpoint}: {layers} layers, {len(train_rows)} train + {len(test_rows)} test rows, "
        f"probe {args.probe}"
    )
    print(f"cached vs cold: {cached_ratio:.1f}x faster (target >= 10x) {'ok' if cached_ratio >= 10 else 'MISSED'}")
    print(
        f"cold vs naive:  {naive_ratio:.2f}x faster (target >= {target:.1f}x) "
        f"{'ok' if naive_ratio >= target else 'MISSED'}"
    )
    print(f"probe scores identical across the three: {same}")
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "seconds": timings,
                    "cached_ratio": cached_ratio,
                    "naive_ratio": naive_ratio,
                    "layers": layers,
                    "same": same,
                }
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
