"""layer_reinit trials: (condition x train size x seed) finetuning trials, plus `probe` trials per layer."""

from __future__ import annotations

import copy

from embedxfer.errors import ConfigError
from embedxfer.experiments.layer_reinit.config import LayerReinitConfig
from embedxfer.experiments.layer_reinit.schemes import conditions
from embedxfer.trials import TrialContext, TrialSpec

PROBE = "probe"


def _check_sizes(config: LayerReinitConfig, task) -> None:
    available = len(task.train)
    too_big = [size for size in config.sizes() if size is not None and size > available]
    if too_big:
        raise ConfigError(
            f"Field 'train_sizes' asks for {too_big[0]} examples, but task {task.name!r} has only {available} "
            f"training examples; use sizes up to {available} (or leave train_size empty for all)."
        )


def _check_task(task, info) -> None:
    if task.modality == "tokens" and task.vocab_size and task.vocab_size > info.vocab_size:
        raise ConfigError(
            f"Task {task.name!r} uses {task.vocab_size} token ids but checkpoint {info.id!r} has only "
            f"{info.vocab_size} embedding rows; pick a checkpoint with a larger vocabulary or a text task."
        )


def expand(config: LayerReinitConfig) -> list[TrialSpec]:
    """Check the checkpoint, task, sizes and block width now, so bad input fails at submit, not in a worker."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.experiments.probing.trial import check_probe_task
    from embedxfer.tasks import load_task

    info = arch_info(config.checkpoint)
    task = load_task(config.task)
    _check_task(task, info)
    _check_sizes(config, task)
    if config.scheme.startswith("localized") and config.block_width > info.num_layers:
        raise ConfigError(
            f"Field 'block_width' is {config.block_width}, wider than {info.id!r}'s {info.num_layers} layers; "
            f"use 1 to {info.num_layers}."
        )
    if config.probe:
        check_probe_task(task, "logistic", "set probe: false", "set probe: false")
    # Probe trials first (seconds each), then finetuning seed by seed: a run stopped early still has whole curves.
    specs = []
    if config.probe:
        specs += [
            TrialSpec(condition=PROBE, seed=seed, params={"train_size": size, "layer": layer})
            for seed in config.seeds
            for size in config.sizes()
            for layer in range(info.num_layers + 1)
        ]
    specs += [
        TrialSpec(
            condition=condition.name,
            seed=seed,
            params={"train_size": size, **condition.facts, "reinit": list(condition.reinit)},
        )
        for seed in config.seeds
        for size in config.sizes()
        for condition in conditions(
            config.scheme, info.num_layers, block_width=config.block_width, permutations=config.permutations
        )
    ]
    return specs


def run_trial(config: LayerReinitConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    device = ctx.device_for(config.device)
    if spec.condition == PROBE:
        from embedxfer.experiments.probing.trial import probe_metrics

        return probe_metrics(
            config.checkpoint,
            config.task,
            layer=int(spec.params["layer"]),
            train_size=spec.params.get("train_size"),
            seed=spec.seed,
            pooling=config.pooling,  # the features take the heads' pooling names too
            max_length=config.max_length,
            probe="logistic",
            control="shuffled-labels",
            eval_size=config.eval_size,
            ctx=ctx,
            device=device,
        )
    return _finetune_trial(config, spec, ctx, device)


def _finetune_trial(config: LayerReinitConfig, spec: TrialSpec, ctx: TrialContext, device: str) -> dict[str, float]:
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.finetuning import FinetuneSettings, finetune_and_test, task_model
    from embedxfer.tasks import load_task

    ctx.report({"phase": "loading"})
    task = load_task(config.task).subsample(spec.params.get("train_size"), seed=spec.seed)
    shared_model, tokenizer, info = load_checkpoint(config.checkpoint)
    backbone = prepare_backbone(shared_model, spec, config)
    reinit = list(spec.params.get("reinit") or [])
    model, output = task_model(backbone, info.hidden_size, task, config.pooling, spec.seed)
    ctx.check_cancel()
    settings = FinetuneSettings.of(config)
    # a trial that reinitializes nothing (keep:L without reinit_embeddings) neither reads nor depends on the multiplier
    fresh_weights = bool(reinit) or config.reinit_embeddings
    scales = _lr_scales(model, reinit, config) if fresh_weights and config.reinit_lr_multiplier != 1.0 else None
    metrics = finetune_and_test(
        model, task, tokenizer, output, settings, seed=spec.seed, ctx=ctx, device=device, lr_scales=scales
    )
    metrics["reinitialized_layers"] = float(len(reinit))
    return metrics


def prepare_backbone(pretrained, spec: TrialSpec, config: LayerReinitConfig):
    """A copy of `pretrained` with the condition applied: the blocks in `reinit` reinitialized (seeded by the trial's
    seed, so seeds vary the new weights as well as the data and the head), blocks reordered for a scramble, the
    embeddings reset when asked. The shared instance is never touched."""
    from embedxfer.parts import permute_layers, reinit_embeddings, reinit_layers

    backbone = copy.deepcopy(pretrained)
    reinit = list(spec.params.get("reinit") or [])
    if reinit:
        reinit_layers(backbone, reinit, init=config.init, keep_layernorm=config.keep_layernorm, seed=spec.seed)
    if spec.params.get("order"):
        permute_layers(backbone, spec.params["order"])
    if config.reinit_embeddings:
        reinit_embeddings(backbone, init=config.init, keep_layernorm=config.keep_layernorm, seed=spec.seed)
    return backbone


def _lr_scales(model, reinit: list[int], config: LayerReinitConfig) -> dict[str, float]:
    """{parameter name: multiplier} for every parameter of a reinitialized block (and the embeddings, if reset)."""
    from embedxfer.parts import get_part, part_names

    wanted = [f"layers.{i}." for i in reinit]
    names = [n for n in part_names(model) if any(n.startswith(w) for w in wanted)]
    if config.reinit_embeddings:
        names += [n for n in part_names(model) if n.startswith("embed.")]
    chosen = {id(p) for name in names for p in get_part(model, name).values()}
    return {n: config.reinit_lr_multiplier for n, p in model.named_parameters() if id(p) in chosen}


def estimate_seconds(config: LayerReinitConfig) -> float:
    """Rough CPU seconds per trial, averaged over the finetuning trials and the (much cheaper) probe trials."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.finetuning import estimate_finetune_seconds, resolved_train_size

    info = arch_info(config.checkpoint)
    sizes = config.sizes()
    finetune = [
        estimate_finetune_seconds(
            info.num_parameters,
            resolved_train_size(config.task, size),
            config.epochs,
            config.max_length,
            config.eval_size,
        )
        for size in sizes
    ]
    count = len(
        conditions(
            config.scheme,
            info.num_layers,
            block_width=min(config.block_width, info.num_layers),
            permutations=config.permutations,
        )
    )
    total = count * len(config.seeds) * sum(finetune)
    probes = (info.num_layers + 1) * len(config.seeds) * len(sizes) if config.probe else 0
    total += probes * 3.0
    return total / max(1, count * len(config.seeds) * len(sizes) + probes)
