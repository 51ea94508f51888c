"""`finetune`: train a checkpoint plus a task head, optionally with some parts frozen.

The simplest experiment kind, and the one that proves the framework end to end. Each freeze
setting is a condition (`full` when nothing is frozen); each condition runs once per seed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.base import ExperimentKind, TrialContext, TrialSpec, register_kind
from embedxfer.experiments.config import BaseConfig, config_field

#: Poolings of `embedxfer.models.pool`, repeated here so parsing a config never imports torch (tested equal).
POOLINGS = ("mean", "cls", "last")


@dataclass(kw_only=True)
class FinetuneConfig(BaseConfig):
    """Finetune `checkpoint` on `task`; one condition per freeze setting, one trial per seed."""

    kind = "finetune"

    checkpoint: str = config_field(
        "minilm-l3", help="Checkpoint id (see `embedxfer checkpoints`), folder or hub:org/name."
    )
    freeze: list[str] = config_field(
        factory=list,
        help="Parts or groups kept frozen, e.g. embed.tokens, layers.0.attn, attention, mlp; empty = train all.",
    )
    freeze_variants: list[list[str]] = config_field(
        factory=list, help="Extra freeze settings, each compared as its own condition next to `freeze`."
    )
    epochs: float = config_field(3.0, help="Passes over the training examples.")
    lr: float = config_field(2e-5, help="Peak learning rate (AdamW, linear decay).")
    batch_size: int = config_field(8, help="Examples per optimisation step.")
    max_length: int = config_field(128, help="Tokens per example after truncation.")
    pooling: str = config_field("mean", choices=POOLINGS, help="How token states become one vector for the head.")
    weight_decay: float = config_field(0.0, help="AdamW weight decay.")
    eval_every: int | None = config_field(None, help="Validate every this many steps; empty = only at the end.")
    eval_size: int | None = config_field(1000, help="Cap on validation/test examples (a fixed subset); empty = all.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.checkpoint:
            raise ConfigError("Field 'checkpoint' must name a checkpoint; see `embedxfer checkpoints`.")
        if self.epochs <= 0:
            raise ConfigError(f"Field 'epochs' must be positive, got {self.epochs}.")
        if self.lr <= 0:
            raise ConfigError(f"Field 'lr' must be positive, got {self.lr}.")
        if self.batch_size < 1:
            raise ConfigError(f"Field 'batch_size' must be at least 1, got {self.batch_size}.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"Field 'pooling' must be one of {', '.join(POOLINGS)}, got {self.pooling!r}.")
        if self.eval_every is not None and self.eval_every < 1:
            raise ConfigError(f"Field 'eval_every' must be at least 1 or empty, got {self.eval_every}.")
        if self.eval_size is not None and self.eval_size < 1:
            raise ConfigError(f"Field 'eval_size' must be at least 1 or empty, got {self.eval_size}.")

    def freeze_settings(self) -> list[list[str]]:
        settings = [list(self.freeze)] + [list(v) for v in self.freeze_variants]
        unique: list[list[str]] = []
        for s in settings:
            if s not in unique:
                unique.append(s)
        return unique


def condition_name(frozen: list[str]) -> str:
    return "full" if not frozen else "freeze:" + "+".join(frozen)


def expand(config: FinetuneConfig) -> list[TrialSpec]:
    """Check the checkpoint, task and part names now, so bad input fails at submit, not in a worker."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.parts import validate_part_names
    from embedxfer.tasks import load_task

    info = arch_info(config.checkpoint)
    task = load_task(config.task)
    task.subsample(config.train_size, seed=config.seeds[0])  # raises if train_size exceeds the data
    for frozen in config.freeze_settings():
        validate_part_names(frozen, family=info.family, num_layers=info.num_layers)
    return [
        TrialSpec(condition=condition_name(frozen), seed=seed, params={"freeze": frozen})
        for frozen in config.freeze_settings()
        for seed in config.seeds
    ]


def run_trial(config: FinetuneConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import torch

    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.data import encode_split
    from embedxfer.engine import TrainSettings, evaluate, resolve_device, train_model
    from embedxfer.models import OutputSpec, SequenceModel
    from embedxfer.parts import freeze_parts
    from embedxfer.tasks import load_task

    ctx.report({"phase": "loading"})
    task = load_task(config.task).subsample(config.train_size, seed=spec.seed)
    shared_model, tokenizer, info = load_checkpoint(config.checkpoint)
    torch.manual_seed(spec.seed)  # the head's initialisation depends on the seed
    output = OutputSpec.for_task(task)
    input_dim = task.input_dim if task.modality == "vectors" else None
    model = SequenceModel(
        copy.deepcopy(shared_model), info.hidden_size, output, pooling=config.pooling, input_dim=input_dim
    )
    if spec.params.get("freeze"):
        freeze_parts(model, spec.params["freeze"])
    ctx.check_cancel()

    encode = lambda split: encode_split(split, task.modality, tokenizer, config.max_length)  # noqa: E731
    train = encode(task.train)
    val = encode(_cap(task.val, config.eval_size))
    test = encode(_cap(task.test, config.eval_size))
    settings = TrainSettings(
        epochs=config.epochs,
        lr=config.lr,
        batch_size=config.batch_size,
        weight_decay=config.weight_decay,
        eval_every=config.eval_every,
        seed=spec.seed,
    )
    device = resolve_device(ctx.device if config.device == "auto" else config.device)
    result = train_model(
        model,
        train,
        classes=output.classes,
        metric=task.metric,
        settings=settings,
        evals={"val": val},
        ctx=ctx,
        device=device,
    )
    ctx.report({"phase": "test"})
    scores = evaluate(model, test, classes=output.classes, metric=task.metric, device=device, settings=settings)
    final = result.evals[-1] if result.evals else {}
    metrics = {
        f"test_{task.metric}": scores[task.metric],
        "test_loss": scores["loss"],
        **{k: v for k, v in final.items() if k != "step"},
        "train_loss": result.train_loss,
        "steps": float(result.steps),
        "train_seconds": result.seconds,
        "examples_per_second": result.examples_per_second,
        "trainable_parameters": float(sum(p.numel() for p in model.parameters() if p.requires_grad)),
    }
    del model
    return metrics


def _cap(split, n: int | None):
    """The first `n` examples of an already shuffled split: a fixed subset, identical for every seed."""
    import numpy as np

    if n is None or len(split.labels) <= n:
        return split
    return split.take(np.arange(n))


def estimate_seconds(config: FinetuneConfig) -> float:
    """Very rough CPU seconds per trial: ~30 examples/s for a 22M-parameter model at 64 tokens."""
    from embedxfer.checkpoints import arch_info

    params = arch_info(config.checkpoint).num_parameters
    examples = (config.train_size or 5000) * config.epochs
    speed = 30.0 * (22e6 / max(params, 1e6)) * (64 / max(min(config.max_length, 64), 16))
    return examples / speed + 2 * (config.eval_size or 2000) / (speed * 3) + 3.0


FINETUNE = register_kind(
    ExperimentKind(
        name="finetune",
        config_cls=FinetuneConfig,
        expand=expand,
        run_trial=run_trial,
        description="Finetune a checkpoint with a task head, optionally freezing parts.",
        primary_metric="test_accuracy",
        estimate_seconds=estimate_seconds,
    )
)
