"""finetune trials: expand a config into (freeze setting x seed) trials, run one, estimate its time."""

from __future__ import annotations

import copy

from embedxfer.experiments.finetune.config import FinetuneConfig
from embedxfer.trials import TrialContext, TrialSpec


def condition_name(frozen: list[str]) -> str:
    """`full` when nothing is frozen, else `freeze:<part>+<part>` (public condition names)."""
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
    from embedxfer.devices import resolve_device
    from embedxfer.engine import TrainSettings, evaluate, train_model
    from embedxfer.heads import OutputSpec, SequenceModel
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
