"""Trials packed on one GPU: the thread backend against Ray, measured in one run on one GPU.

The same sweep (`finetune` of the bundled minilm-l6 on tweets-binary: `--trials` seeds, `--train-size` examples,
one epoch, batch 32, 64 tokens, device cuda) runs with 1, 2 and 4 trials per GPU:
- thread backend: `JobManager(workers={"cuda:0": n}, gpu_pack=n)`, so the packing decisions of
  `embedxfer.gpu_packing` (memory budget, cap) are the ones that run by default;
- Ray: a local Ray, `gpus_per_trial` 1, 0.5, 0.25 (what `embedxfer run --backend ray --gpus-per-trial` sets).
Each setup starts with a one-trial warm-up (imports, data, CUDA, Ray's workers), not timed.

Prints examples/s of the whole sweep (examples trained / wall time), the ratio to one trial at a time on the same
backend, and peak GPU memory per trial. Thread workers share one process, and so torch's peak counter, which
every trial resets when it starts training: a trial's own `peak_gpu_memory_mb` is its own only when it runs
alone. So the thread rows report, for one at a time, the largest of the trials' own peaks, and for packed runs
the most memory allocated at once by all trials (sampled every 10 ms) divided by the trials per GPU. A Ray trial
is a process of its own, so its own peak is honest (a CUDA context of ~0.5 GB per process comes on top).
Targets: thread backend >= 3x at 4 per GPU, and within 20% of Ray at 4 per GPU.

Without a CUDA GPU it says so in one line and exits 0: there is nothing to measure.

Usage: python bench/gpu_packing.py [--trials 8] [--train-size 2000] [--skip-ray] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "0")  # one GPU: Ray would otherwise spread trials over all of them

PACKS = (1, 2, 4)
BATCH = 32


def sweep_config(trials: int, train_size: int) -> dict:
    return {
        "kind": "finetune",
        "checkpoint": "minilm-l6",
        "task": "tweets-binary",
        "train_size": train_size,
        "seeds": list(range(trials)),
        "epochs": 1,
        "batch_size": BATCH,
        "max_length": 64,
        "eval_size": 64,
        "device": "cuda",
    }


class PeakSampler:
    """The most GPU memory torch held allocated in this process at once, sampled while a sweep runs (the engine
    resets torch's own peak counter at each trial's start, so the counter cannot give it)."""

    def __init__(self, interval: float = 0.01) -> None:
        self.interval, self.peak = interval, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        import torch

        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, torch.cuda.memory_allocated(0))

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


def run_sweep(manager, config: dict) -> tuple[float, list[dict]]:
    """Submit, wait; (wall seconds, the trials' final metrics). Every trial must complete."""
    from embedxfer.results import experiment_json

    start = time.perf_counter()
    experiment_id = manager.submit(config)
    status = manager.wait(experiment_id)
    wall = time.perf_counter() - start
    trials = experiment_json(manager.store, experiment_id)["trials"]
    if status != "completed":
        raise SystemExit(f"gpu_packing: sweep ended {status}: {sorted({t['error'] for t in trials if t['error']})}")
    return wall, [t["metrics"] for t in trials]


def measure(backend: str, pack: int, manager, config: dict) -> dict:
    run_sweep(manager, {**config, "seeds": [0], "train_size": 64})  # warm-up, not timed
    with PeakSampler() as sampler:
        wall, metrics = run_sweep(manager, config)
    examples = sum(m["examples_per_second"] * m["train_seconds"] for m in metrics)
    own_peaks = [m.get("peak_gpu_memory_mb", 0.0) for m in metrics]
    if backend == "ray" or pack == 1:
        per_trial, how = max(own_peaks), "own peak" if backend == "ray" else "own peak, alone"
    else:
        per_trial, how = sampler.peak / 2**20 / pack, f"all at once / {pack}"
    return {
        "backend": backend,
        "per_gpu": pack,
        "wall_s": wall,
        "examples_per_s": examples / wall,
        "peak_mb_per_trial": per_trial,
        "peak_how": how,
        "bf16_autocast": sorted({m.get("bf16_autocast") for m in metrics}),
    }


def thread_rows(config: dict, root: Path) -> list[dict]:
    from embedxfer.jobs import JobManager
    from embedxfer.store import Store

    rows = []
    for pack in PACKS:
        with JobManager(Store(root / f"thread-{pack}"), workers={"cuda:0": pack}, gpu_pack=pack) as manager:
            rows.append(measure("thread", pack, manager, config))
        print_row(rows)
    return rows


def ray_rows(config: dict, root: Path) -> list[dict]:
    try:
        import ray
    except ImportError:
        print("Ray is not installed (make cluster): Ray rows skipped")
        return []
    from embedxfer.ray_backend.manager import RayJobManager
    from embedxfer.ray_backend.settings import RaySettings
    from embedxfer.store import Store

    ray.init(include_dashboard=False, log_to_driver=False, logging_level="warning")
    rows = []
    try:
        for pack in PACKS:
            settings = RaySettings(cpus_per_trial=1, gpus_per_trial=1 / pack)
            with RayJobManager(Store(root / f"ray-{pack}"), settings) as manager:
                rows.append(measure("ray", pack, manager, config))
            print_row(rows)
    finally:
        ray.shutdown()
    return rows


def print_row(rows: list[dict]) -> None:
    """Print the newest row, with its ratio to the first (one trial per GPU on the same backend)."""
    row = rows[-1]
    row["x_one"] = row["examples_per_s"] / rows[0]["examples_per_s"]
    bf16 = ",".join("-" if v is None else f"{v:g}" for v in row["bf16_autocast"])
    print(
        f"{row['backend']:<8}{row['per_gpu']:>8}{row['wall_s']:>9.1f}{row['examples_per_s']:>12.0f}"
        f"{row['x_one']:>8.2f}{row['peak_mb_per_trial']:>10.0f}  {row['peak_how']:<20}{bf16:>5}",
        flush=True,
    )


def verdicts(threads: list[dict], rays: list[dict]) -> dict:
    packed = threads[-1]["x_one"]
    out = {"thread_x_one_at_4": packed}
    print(f"thread backend, 4 per GPU vs one at a time: {packed:.2f}x ({'meets' if packed >= 3 else 'MISSES'} >= 3x)")
    if rays:
        ratio = threads[-1]["examples_per_s"] / rays[-1]["examples_per_s"]
        out["thread_vs_ray_at_4"] = ratio
        verdict = "meets" if ratio >= 0.8 else "MISSES"
        print(f"thread backend vs Ray, 4 per GPU: {ratio:.2f}x the examples/s ({verdict} within 20%)")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=8, help="trials per sweep (seeds)")
    parser.add_argument("--train-size", type=int, default=2000, help="training examples per trial (one epoch)")
    parser.add_argument("--skip-ray", action="store_true", help="the thread backend only")
    parser.add_argument("--json", help="write the measurements to this file")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("gpu_packing: no CUDA GPU is visible here; nothing to measure.")
        sys.exit(0)
    root = Path(tempfile.mkdtemp(prefix="embedxfer-bench-packing-"))
    os.environ["EMBEDXFER_HOME"] = str(root / "home")
    config = sweep_config(args.trials, args.train_size)
    print(f"{torch.cuda.get_device_name(0)}; {args.trials} trials of minilm-l6, {args.train_size} examples each")
    header = f"{'backend':<8}{'per GPU':>8}{'wall s':>9}{'examples/s':>12}{'x one':>8}{'MiB/trial':>10}"
    print(f"{header}  {'(how)':<20}bf16")
    threads = thread_rows(config, root)
    rays = [] if args.skip_ray else ray_rows(config, root)
    out = {"device": torch.cuda.get_device_name(0), "rows": threads + rays, **verdicts(threads, rays)}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
