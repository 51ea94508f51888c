"""probing trials: one per (checkpoint, layer, seed); every layer's features come from one cached forward pass."""

from __future__ import annotations

from embedxfer.errors import ConfigError
from embedxfer.experiments.probing.config import ProbingConfig
from embedxfer.trials import TrialContext, TrialSpec


def check_probe_task(task, probe: str, fix: str, regression_fix: str = "use probe: mlp") -> None:
    """ConfigError unless `probe` can read `task` from frozen text representations; the fixes say what to change."""
    from embedxfer.probes import check_probe

    if task.modality != "text":
        raise ConfigError(
            f"Probing reads a checkpoint's representation of text, and task {task.name!r} has {task.modality} "
            f"inputs; pick a text task (tweets-binary, word-valence-binary, a file task) or {fix}."
        )
    check_probe(probe, task.label_kind, task.name, regression_fix)


def expand(config: ProbingConfig) -> list[TrialSpec]:
    """Check every checkpoint, the task and the probe now, so bad input fails at submit, not in a worker."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.tasks import load_task

    task = load_task(config.task)
    check_probe_task(task, config.probe, "another kind")
    task.subsample(config.train_size, seed=config.seeds[0])  # raises if train_size exceeds the data
    infos = {checkpoint: arch_info(checkpoint) for checkpoint in config.checkpoints}
    return [
        TrialSpec(condition=checkpoint, seed=seed, params={"layer": layer, "train_size": config.train_size})
        for checkpoint, info in infos.items()
        for layer in range(info.num_layers + 1)
        for seed in config.seeds
    ]


def probe_metrics(
    checkpoint: str,
    task_name: str,
    *,
    layer: int,
    train_size: int | None,
    seed: int,
    pooling: str,
    max_length: int,
    probe: str,
    control: str,
    eval_size: int | None,
    ctx: TrialContext,
    device: str,
) -> dict[str, float]:
    """Probe layer `layer` of `checkpoint` on `task_name`: test metric, control metric, selectivity."""
    import numpy as np

    from embedxfer.devices import resolve_device
    from embedxfer.features import layer_features
    from embedxfer.probes import fit_probe, shuffled
    from embedxfer.tasks import load_task

    task = load_task(task_name)
    train_rows = task.subsample_indices(train_size, seed)
    test_rows = np.arange(min(len(task.test), eval_size or len(task.test)))
    target = str(resolve_device(device))

    def features(split: str, rows: np.ndarray):
        def progress(done: int, total: int) -> None:
            ctx.report({"phase": f"encoding {split}", "step": done, "total": total})

        return layer_features(
            checkpoint,
            task,
            split,
            rows,
            pooling=pooling,
            max_length=max_length,
            device=target,
            progress=progress,
            cancelled=ctx.cancel.is_set,
        )

    train, test = features("train", train_rows), features("test", test_rows)
    ctx.check_cancel()
    ctx.report({"phase": f"probing layer {layer}"})
    train_x, test_x = train.features[:, layer], test.features[:, layer]
    train_y, test_y = task.train.labels[train_rows], task.test.labels[test_rows]
    fitted = fit_probe(train_x, train_y, test_x, test_y, probe=probe, metric=task.metric, seed=seed)
    metric = task.metric
    metrics = {
        f"test_{metric}": fitted.score,
        "probe_strength": fitted.strength,
        "features_computed": float(train.computed + test.computed),
        "features_cached": float(train.cached + test.cached),
    }
    if control == "shuffled-labels":
        ctx.check_cancel()
        baseline = fit_probe(train_x, shuffled(train_y, seed), test_x, test_y, probe=probe, metric=metric, seed=seed)
        metrics[f"control_{metric}"] = baseline.score
        metrics["selectivity"] = fitted.score - baseline.score
    return metrics


def run_trial(config: ProbingConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    return probe_metrics(
        spec.condition,
        config.task,
        layer=int(spec.params["layer"]),
        train_size=spec.params.get("train_size"),
        seed=spec.seed,
        pooling=config.pooling,
        max_length=config.max_length,
        probe=config.probe,
        control=config.control,
        eval_size=config.eval_size,
        ctx=ctx,
        device=ctx.device_for(config.device),
    )


def estimate_seconds(config: ProbingConfig) -> float:
    """Rough CPU seconds per trial: encoding is paid once per checkpoint and spread over its layers' trials."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.finetuning import resolved_train_size

    info = arch_info(config.checkpoints[0])
    train = resolved_train_size(config.task, config.train_size)
    rows = train + (config.eval_size or 2000)
    encode = rows * info.num_parameters / 22e6 / 150.0  # ~150 examples/s for a 22M-parameter model at 64 tokens
    fit = 0.5 + train / 1000.0 * (2 if config.control != "none" else 1)
    return encode / (info.num_layers + 1) / len(config.seeds) + fit
