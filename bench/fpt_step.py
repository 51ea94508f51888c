"""Training steps per second of a frozen-blocks backbone (FPT's trainable set) against the same model with every
parameter trainable, same task and batch, in one run (README, "Tests and benchmarks").

Each mode runs in a fresh child process (so the peak RSS it reports is its own): the frozen_transformer kind's
model (the checkpoint between a new input layer and output layer, `experiments/frozen_transformer/model.py`) on
bit-xor, trained by the engine with Adam, constant lr 1e-3, clip 1.0:

- frozen: attention and MLP blocks frozen; input layer, output head, layer norms and positions train (FPT);
- full: every parameter trains (the baseline).

A frozen block needs no weight gradients and no optimizer state, so its steps should be cheaper: the target is a
ratio >= 1.3x on CPU. Warm-up steps are run and discarded before the timed ones.

    .venv/bin/python bench/fpt_step.py [--checkpoint minilm-l6] [--task bit-xor] [--batch 32] [--steps 60]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _child(mode: str, checkpoint: str, task_name: str, batch: int, steps: int) -> dict[str, float]:
    import torch

    from embedxfer.checkpoints import fresh_model
    from embedxfer.data import encode_split
    from embedxfer.engine import TrainSettings, train_model
    from embedxfer.experiments.frozen_transformer.config import GROUPS, TRAINABLE_PRESETS
    from embedxfer.experiments.frozen_transformer.model import FPTModel, set_trainable
    from embedxfer.heads import OutputSpec
    from embedxfer.tasks import load_task

    torch.manual_seed(0)
    task = load_task(task_name)
    loaded = fresh_model(checkpoint)
    output = OutputSpec.for_task(task)
    model = FPTModel(loaded.model, loaded.info.hidden_size, output, input_dim=task.input_dim, vocab=None)
    # the kind's own model and freezing: the unused token table is frozen in both modes
    set_trainable(model, list(TRAINABLE_PRESETS["fpt"] if mode == "frozen" else GROUPS))
    train = encode_split(task.train, task.modality)

    def run(n: int) -> float:
        settings = TrainSettings(
            max_steps=n, lr=1e-3, optimizer="adam", schedule="constant", batch_size=batch, grad_clip=1.0, log_every=n
        )
        return train_model(model, train, classes=output.classes, metric=task.metric, settings=settings).seconds

    run(5)  # warm-up: first-call allocations and kernel selection
    seconds = run(steps)
    return {
        "steps_per_s": steps / seconds,
        "trainable": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
        "total": float(sum(p.numel() for p in model.parameters())),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, checkpoint, task, batch, steps = sys.argv[2:7]
        print(json.dumps(_child(mode, checkpoint, task, int(batch), int(steps))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default="minilm-l6")
    parser.add_argument("--task", default="bit-xor")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args()
    rows = {}
    for mode in ("full", "frozen"):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "--child", mode, args.checkpoint, args.task, str(args.batch), str(args.steps)],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        rows[mode] = json.loads(done.stdout.strip().splitlines()[-1]) | {"process_s": time.perf_counter() - started}
    print(f"{args.checkpoint} on {args.task}, batch {args.batch}, {args.steps} timed steps, CPU")
    print(f"{'mode':<8} {'steps/s':>8} {'trainable':>12} {'of total':>12} {'peak RSS MB':>12}")
    for mode, row in rows.items():
        print(
            f"{mode:<8} {row['steps_per_s']:>8.2f} {int(row['trainable']):>12,} {int(row['total']):>12,} "
            f"{row['peak_rss_mb']:>12.0f}"
        )
    ratio = rows["frozen"]["steps_per_s"] / rows["full"]["steps_per_s"]
    print(f"frozen blocks: {ratio:.2f}x the steps/s of full training (target >= 1.3x)")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "ratio": ratio}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
