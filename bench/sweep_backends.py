"""Sweep backends against each other, measured in one run on one machine.

(a) CPU: one 24-trial `finetune` experiment (a tiny random BERT, hidden 32, 2 layers; 1,000 tweets, 2 epochs,
    batch 8: 250 steps a trial; 4 freeze settings x 6 seeds) through the thread backend (one worker, torch's
    threads: the baseline) and through a local Ray backend asking 2 CPUs per trial (one trial at a time with
    the same threads: the Ray overhead alone), then 1 CPU per trial (trials side by side); each setup runs
    `--repeats` times, interleaved, and the median counts. Prints wall times, the ratio to the baseline and the
    overhead per trial. Target: Ray overhead per trial < 10% of a trial. Ray's start (once per process) is timed
    on its own and not counted in the sweep.
(b) GPU, only where one is visible: the same sweep on minilm-l6 (its architecture; a fresh random init when
    the bundled weights are not installed: throughput does not depend on the values) with 1, 2 and 4 trials
    per GPU (gpus_per_trial 1, 0.5, 0.25). Prints examples/s in total and peak GPU memory per trial.
    Target: >= 3x the throughput of one trial at a time.

Usage: python bench/sweep_backends.py [--part cpu|gpu|both] [--seeds 6] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/ holds the tiny-checkpoint builder

FREEZE_VARIANTS = [["embed.tokens"], ["input"], ["attention"]]  # + the config's own (nothing frozen): 4 settings


def sweep_config(checkpoint: str, seeds: int, **extra) -> dict:
    config = {
        "kind": "finetune",
        "checkpoint": checkpoint,
        "task": "tweets-binary",
        "train_size": 1000,
        "seeds": list(range(seeds)),
        "freeze": [],
        "freeze_variants": FREEZE_VARIANTS,
        "epochs": 2,
        "batch_size": 8,
        "max_length": 32,
        "eval_size": 64,
        "device": "cpu",
    }
    return {**config, **extra}


def run_sweep(manager, config: dict) -> tuple[float, dict]:
    """Submit, wait, return (wall seconds, the experiment's public JSON); every trial must complete."""
    from embedxfer.results import experiment_json

    start = time.perf_counter()
    experiment_id = manager.submit(config)
    status = manager.wait(experiment_id)
    wall = time.perf_counter() - start
    result = experiment_json(manager.store, experiment_id)
    if status != "completed":
        errors = {t["error"] for t in result["trials"] if t["error"]}
        raise SystemExit(f"sweep ended {status}: {errors}")
    return wall, result


def part_cpu(seeds: int, repeats: int) -> dict:
    import statistics

    import ray

    from embedxfer.jobs import JobManager
    from embedxfer.ray_backend.manager import RayJobManager
    from embedxfer.ray_backend.settings import RaySettings
    from embedxfer.store import Store
    from tests.conftest import make_tiny_checkpoint

    root = Path(tempfile.mkdtemp(prefix="embedxfer-bench-"))
    os.environ["EMBEDXFER_HOME"] = str(root / "home")
    checkpoint = str(make_tiny_checkpoint(root / "tiny-bert", "bert"))
    config = sweep_config(checkpoint, seeds)
    trials = seeds * (len(FREEZE_VARIANTS) + 1)
    start = time.perf_counter()
    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False, logging_level="warning")
    ray_start = time.perf_counter() - start
    setups = [("thread (baseline)", "all"), ("ray (local)", os.cpu_count() or 1), ("ray (local)", 1)]
    managers = [
        JobManager(Store(root / "threads"), workers={"cpu": 1}),
        *(RayJobManager(Store(root / f"ray-{cpus}"), RaySettings(cpus_per_trial=cpus)) for _, cpus in setups[1:]),
    ]
    for manager in managers:
        run_sweep(manager, sweep_config(checkpoint, 1))  # warm-up: imports, Ray's workers, the task's cache
    walls: list[list[float]] = [[] for _ in setups]
    for _ in range(repeats):  # interleaved, so a slow minute of the machine hits every setup alike
        for i, manager in enumerate(managers):
            walls[i].append(run_sweep(manager, config)[0])
    for manager in managers:
        manager.close()
    ray.shutdown()
    rows = [
        {"backend": name, "cpus_per_trial": cpus, "walls_s": w, "wall_s": statistics.median(w)}
        for (name, cpus), w in zip(setups, walls, strict=True)
    ]
    base = rows[0]["wall_s"]
    for row in rows:
        row["ratio_to_thread"] = row["wall_s"] / base
        row["overhead_per_trial_s"] = (row["wall_s"] - base) / trials
        row["overhead_per_trial_pct"] = 100 * (row["wall_s"] - base) / base
    print(
        f"\n(a) CPU, {trials} trials of 250 steps (tiny bert), {os.cpu_count()} cores, median of {repeats} interleaved"
    )
    print(f"runs; Ray start {ray_start:.1f} s (not counted)")
    print(f"{'backend':<20}{'cpus/trial':>11}{'runs s':>16}{'median s':>10}{'x thread':>10}{'overhead/trial':>20}")
    for row in rows:
        runs = ", ".join(f"{w:.1f}" for w in row["walls_s"])
        overhead = f"{row['overhead_per_trial_s']:+.2f} s ({row['overhead_per_trial_pct']:+.1f}%)"
        print(
            f"{row['backend']:<20}{row['cpus_per_trial']!s:>11}{runs:>16}{row['wall_s']:>10.1f}"
            f"{row['ratio_to_thread']:>10.2f}{overhead:>20}"
        )
    like_for_like = rows[1]["overhead_per_trial_pct"]
    verdict = "meets" if like_for_like < 10 else "MISSES"
    print(f"Ray overhead per trial, like for like (one trial at a time): {like_for_like:+.1f}% ({verdict} < 10%)")
    return {"trials": trials, "ray_start_s": ray_start, "rows": rows}


def _minilm_folder(root: Path) -> str:
    """minilm-l6 as bundled, or (not installed) a random model of its exact architecture with the tiny tokenizer."""
    from embedxfer.checkpoints.bundled import locate
    from embedxfer.errors import EmbedxferError

    try:
        locate("minilm-l6")
        return "minilm-l6"
    except EmbedxferError:
        from transformers import BertConfig, BertModel

        from tests.conftest import make_tiny_checkpoint

        folder = make_tiny_checkpoint(root / "minilm-l6-arch", "bert")  # for its tokenizer files
        # all-MiniLM-L6-v2's shape, its 30,522-row vocabulary included (the tiny tokenizer uses the first rows)
        shape = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
        BertModel(shape).save_pretrained(folder)
        return str(folder)


def part_gpu(seeds: int) -> dict:
    import ray
    import torch

    from embedxfer.ray_backend.manager import RayJobManager
    from embedxfer.ray_backend.settings import RaySettings
    from embedxfer.store import Store

    if not torch.cuda.is_available():
        print("\n(b) GPU: no CUDA device here; skipped")
        return {}
    root = Path(tempfile.mkdtemp(prefix="embedxfer-bench-gpu-"))
    os.environ["EMBEDXFER_HOME"] = str(root / "home")
    checkpoint = _minilm_folder(root)
    config = sweep_config(checkpoint, seeds, device="auto", train_size=2000, batch_size=32, max_length=64)
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="warning")
    rows = []
    for share in (1.0, 0.5, 0.25):
        settings = RaySettings(cpus_per_trial=1, gpus_per_trial=share)
        with RayJobManager(Store(root / f"gpu-{share}"), settings) as manager:
            run_sweep(manager, sweep_config(checkpoint, 1, device="auto", train_size=64))  # warm-up
            wall, result = run_sweep(manager, config)
        examples = sum(t["metrics"]["steps"] * 32 for t in result["trials"])
        memory = [t["metrics"].get("peak_gpu_memory_mb") for t in result["trials"]]
        memory = [m for m in memory if m is not None]
        rows.append(
            {
                "trials_per_gpu": round(1 / share),
                "wall_s": wall,
                "examples_per_s": examples / wall,
                "peak_gpu_memory_mb_per_trial": max(memory) if memory else None,
            }
        )
    ray.shutdown()
    base = rows[0]["examples_per_s"]
    print(f"\n(b) GPU {torch.cuda.get_device_name(0)}, {len(result['trials'])} trials on {checkpoint}")
    print(f"{'trials/GPU':>10}{'wall s':>9}{'examples/s':>12}{'x one':>8}{'peak MB/trial':>15}")
    for row in rows:
        row["speedup"] = row["examples_per_s"] / base
        mem = row["peak_gpu_memory_mb_per_trial"]
        print(
            f"{row['trials_per_gpu']:>10}{row['wall_s']:>9.1f}{row['examples_per_s']:>12.0f}{row['speedup']:>8.2f}"
            f"{'-' if mem is None else f'{mem:.0f}':>15}"
        )
    verdict = "meets" if rows[-1]["speedup"] >= 3 else "MISSES"
    print(f"4 trials per GPU vs one at a time: {rows[-1]['speedup']:.2f}x ({verdict} >= 3x)")
    return {"rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("cpu", "gpu", "both"), default="both")
    parser.add_argument("--seeds", type=int, default=6, help="seeds per freeze setting (4 settings): 6 -> 24 trials")
    parser.add_argument("--repeats", type=int, default=2, help="CPU part: interleaved runs of each setup (median)")
    parser.add_argument("--json", help="write the measurements to this file")
    args = parser.parse_args()
    out = {}
    if args.part in ("cpu", "both"):
        out["cpu"] = part_cpu(args.seeds, args.repeats)
    if args.part in ("gpu", "both"):
        out["gpu"] = part_gpu(args.seeds)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
