"""Finetune a prepared model on a task and score it on the test split: the step every finetuning kind shares.

A kind builds its model (a checkpoint with parts frozen, layers reinitialized, ...) and hands it here with its
training settings; this encodes the splits, trains with the engine (validating on a fixed subset), tests, and
returns the trial's metrics under the names every figure and summary reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from torch import nn

    from embedxfer.heads import OutputSpec
    from embedxfer.tasks import Split, Task
    from embedxfer.trials import TrialContext


@dataclass(frozen=True)
class FinetuneSettings:
    """What a finetuning kind's config says about training (its own fields map onto these)."""

    epochs: float
    lr: float
    batch_size: int
    max_length: int
    weight_decay: float = 0.0
    eval_every: int | None = None
    eval_size: int | None = 1000

    @classmethod
    def of(cls, config: Any) -> FinetuneSettings:
        """The settings a kind's config holds under these field names (weight_decay and eval_every optional)."""
        return cls(
            epochs=config.epochs,
            lr=config.lr,
            batch_size=config.batch_size,
            max_length=config.max_length,
            weight_decay=getattr(config, "weight_decay", 0.0),
            eval_every=getattr(config, "eval_every", None),
            eval_size=config.eval_size,
        )


def task_model(backbone: nn.Module, hidden_size: int, task: Task, pooling: str, seed: int):
    """(backbone + a fresh head for `task`, its OutputSpec); the head's initialisation depends on `seed`. Vector
    tasks get an input projection (their inputs enter through inputs_embeds)."""
    import torch

    from embedxfer.heads import OutputSpec, SequenceModel

    torch.manual_seed(seed)
    output = OutputSpec.for_task(task)
    input_dim = task.input_dim if task.modality == "vectors" else None
    return SequenceModel(backbone, hidden_size, output, pooling=pooling, input_dim=input_dim), output


def capped(split: Split, n: int | None) -> Split:
    """The first `n` examples of an already shuffled split: a fixed subset, identical for every seed."""
    import numpy as np

    if n is None or len(split.labels) <= n:
        return split
    return split.take(np.arange(n))


def finetune_and_test(
    model: nn.Module,
    task: Task,
    tokenizer,
    output: OutputSpec,
    settings: FinetuneSettings,
    *,
    seed: int,
    ctx: TrialContext,
    device: str,
    lr_scales: Mapping[str, float] | None = None,
) -> dict[str, float]:
    """Train `model` on `task.train`, validate on `eval_size` validation examples, test on as many test examples.

    `lr_scales` maps parameter names of `model` to a learning-rate multiplier (e.g. 5x on reinitialized layers).
    """
    from embedxfer.data import encode_split
    from embedxfer.devices import resolve_device
    from embedxfer.engine import TrainSettings, evaluate, train_model

    def encode(split: Split):
        return encode_split(split, task.modality, tokenizer, settings.max_length)

    train = encode(task.train)
    val = encode(capped(task.val, settings.eval_size))
    test = encode(capped(task.test, settings.eval_size))
    engine_settings = TrainSettings(
        epochs=settings.epochs,
        lr=settings.lr,
        batch_size=settings.batch_size,
        weight_decay=settings.weight_decay,
        eval_every=settings.eval_every,
        seed=seed,
    )
    target = resolve_device(device)
    result = train_model(
        model,
        train,
        classes=output.classes,
        metric=task.metric,
        settings=engine_settings,
        evals={"val": val},
        ctx=ctx,
        device=target,
        lr_scales=lr_scales,
    )
    ctx.report({"phase": "test"})
    scores = evaluate(model, test, classes=output.classes, metric=task.metric, device=target, settings=engine_settings)
    return {f"test_{task.metric}": scores[task.metric], "test_loss": scores["loss"], **result.metrics(model)}


def estimate_finetune_seconds(
    num_parameters: int, train_size: int, epochs: float, max_length: int, eval_size: int | None
) -> float:
    """Very rough CPU seconds for one finetuning trial: ~30 examples/s for a 22M-parameter model at 64 tokens."""
    examples = train_size * epochs
    speed = 30.0 * (22e6 / max(num_parameters, 1e6)) * (64 / max(min(max_length, 64), 16))
    return examples / speed + 2 * (eval_size or 2000) / (speed * 3) + 3.0


def resolved_train_size(task_name: str, train_size: int | None) -> int:
    """`train_size`, or the task's whole training split when it is None (read from the cached task)."""
    if train_size is not None:
        return train_size
    from embedxfer.tasks import load_task

    return len(load_task(task_name).train)
