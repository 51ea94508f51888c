"""Configs shared by the Ray backend's test modules: small finetune runs on a tiny checkpoint."""

from __future__ import annotations


def ray_config(checkpoint, **extra) -> dict:
    config = {
        "kind": "finetune",
        "checkpoint": str(checkpoint),
        "task": "tweets-binary",
        "train_size": 64,
        "seeds": [0, 1],
        "freeze_variants": [["embed.tokens"]],
        "epochs": 1,
        "batch_size": 16,
        "max_length": 32,
        "eval_size": 32,
    }
    return {**config, **extra}


def long_config(checkpoint) -> dict:
    """One trial of a few thousand steps: long enough to act on while it runs."""
    return ray_config(checkpoint, seeds=[0], freeze_variants=[], train_size=2000, epochs=20, batch_size=8)


def medium_config(checkpoint, **extra) -> dict:
    """750 steps a trial (about 10 s on 2 CPUs): time to kill its worker, short enough to run again."""
    return ray_config(
        checkpoint, **{"seeds": [0], "freeze_variants": [], "train_size": 2000, "epochs": 3, "batch_size": 8, **extra}
    )
