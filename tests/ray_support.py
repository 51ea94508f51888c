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
