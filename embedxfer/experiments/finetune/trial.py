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
    from embedxfer.errors import ConfigError
    from embedxfer.experiments.serves import indefinite_article
    from embedxfer.parts import validate_part_names
    from embedxfer.parts.resolve import FAMILIES
    from embedxfer.tasks import load_task

    info = arch_info(config.checkpoint)
    task = load_task(config.task)
    task.subsample(config.train_size, seed=config.seeds[0])  # raises if train_size exceeds the data
    for frozen in config.freeze_settings():
        if frozen and info.family not in FAMILIES:
            raise ConfigError(
                f"Freezing parts by name works on the {', '.join(FAMILIES)} families; {info.id} is "
                f"{indefinite_article(info.family)} {info.family} model, so finetune runs on it as full finetuning: "
                "freeze [] and no freeze_variants."
            )
        if frozen:
            validate_part_names(frozen, family=info.family, num_layers=info.num_layers)
    return [
        TrialSpec(condition=condition_name(frozen), seed=seed, params={"freeze": frozen})
        for frozen in config.freeze_settings()
        for seed in config.seeds
    ]


def run_trial(config: FinetuneConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.finetuning import FinetuneSettings, finetune_and_test, task_model
    from embedxfer.parts import freeze_parts
    from embedxfer.tasks import load_task

    ctx.report({"phase": "loading"})
    task = load_task(config.task).subsample(config.train_size, seed=spec.seed)
    shared_model, tokenizer, info = load_checkpoint(config.checkpoint)
    model, output = task_model(copy.deepcopy(shared_model), info.hidden_size, task, config.pooling, spec.seed)
    if spec.params.get("freeze"):
        freeze_parts(model, spec.params["freeze"])
    ctx.check_cancel()
    settings = FinetuneSettings.of(config)
    device = ctx.device_for(config.device)
    return finetune_and_test(model, task, tokenizer, output, settings, seed=spec.seed, ctx=ctx, device=device)


def estimate_seconds(config: FinetuneConfig) -> float:
    """Very rough CPU seconds per trial (`embedxfer.finetuning.estimate_finetune_seconds`)."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.finetuning import estimate_finetune_seconds, resolved_train_size

    params = arch_info(config.checkpoint).num_parameters
    size = resolved_train_size(config.task, config.train_size)
    return estimate_finetune_seconds(params, size, config.epochs, config.max_length, config.eval_size)
