"""layer_similarity trials: one per (measure, seed), each the whole layer x layer grid of its measure. Both models'
features come from the feature cache (every layer from one forward pass), so the measures' trials share them."""

from __future__ import annotations

import json

import numpy as np

from embedxfer.errors import ConfigError
from embedxfer.experiments.layer_similarity.config import LayerSimilarityConfig
from embedxfer.trials import TrialContext, TrialSpec

GRID_ARTIFACT = "grid.json"


def _rows(config: LayerSimilarityConfig, task) -> np.ndarray:
    split = getattr(task, config.split)
    available = 0 if split is None else len(split.inputs)
    if available < config.rows:
        raise ConfigError(
            f"Field 'rows' is {config.rows}, but task {task.name!r} has {available} examples in its {config.split} "
            f"split; use rows up to {available}" + (" or another split." if available else ", or another split.")
        )
    return np.arange(config.rows)


def expand(config: LayerSimilarityConfig) -> list[TrialSpec]:
    """Check both checkpoints, the task and the rows now, so bad input fails at submit, not in a worker."""
    from embedxfer.checkpoints import arch_info
    from embedxfer.tasks import load_task

    for checkpoint in config.pair:
        arch_info(checkpoint)
    task = load_task(config.task)
    if task.modality != "text":
        raise ConfigError(
            f"Layer similarity compares two models' representations of the same texts, and task {task.name!r} has "
            f"{task.modality} inputs; pick a text task (tweets-binary, word-valence-binary, a file task)."
        )
    _rows(config, task)
    return [
        TrialSpec(condition=measure, seed=seed, params={"measure": measure})
        for seed in config.seeds
        for measure in config.measures
    ]


def run_trial(config: LayerSimilarityConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import torch

    from embedxfer.devices import resolve_device
    from embedxfer.experiments.layer_similarity.measures import measure_grid
    from embedxfer.features import layer_features
    from embedxfer.paths import write_atomic
    from embedxfer.tasks import load_task

    task = load_task(config.task)
    rows = _rows(config, task)
    device = resolve_device(ctx.device_for(config.device))
    # double precision on the CPU: the debiased estimator subtracts large terms; GPUs work in single
    dtype = torch.float64 if device.type == "cpu" else torch.float32
    stacks, computed = [], 0
    for checkpoint in config.pair:
        result = layer_features(
            checkpoint,
            task,
            config.split,
            rows,
            pooling=config.pooling,
            max_length=config.max_length,
            device=str(device),
            progress=lambda done, total, c=checkpoint: ctx.report(
                {"phase": f"encoding {c}", "step": done, "total": total}
            ),
            cancelled=ctx.cancel.is_set,
        )
        computed += result.computed
        stacks.append(torch.as_tensor(result.features).permute(1, 0, 2).to(device=device, dtype=dtype))
    ctx.check_cancel()
    measure = spec.params["measure"]
    # each measure reads only its own option, so a finished cka trial is reused when k changes
    options = {"mutual_knn": lambda: {"k": config.k}, "procrustes": lambda: {"width": config.pca_width}}
    grid = measure_grid(
        measure,
        *stacks,
        **options.get(measure, dict)(),
        permutations=config.permutations,
        bootstraps=config.bootstraps,
        seed=spec.seed,
        progress=lambda done, total: ctx.report(
            {"phase": f"{measure}: observed, nulls, resamples", "step": done, "total": total}
        ),
        cancelled=ctx.cancel.is_set,
    )
    if ctx.artifact_dir is not None:
        write_atomic(ctx.artifact_dir / GRID_ARTIFACT, json.dumps({"checkpoints": list(config.pair), **grid.to_dict()}))
    return {**grid_metrics(grid), "rows": float(len(rows)), "features_computed": float(computed)}


def grid_metrics(grid) -> dict[str, float]:
    """A grid in three numbers: the mean at equal relative depth, how far the best matches sit from equal relative
    depth (in units of B's depth), and the share of cells more similar than every one of their null draws (the
    smallest p the draws allow: with 10 permutations no cell can reach p < 0.05)."""
    from embedxfer.experiments.layer_similarity.measures import best_matches, depth_match

    layers_a, layers_b = grid.observed.shape[0] - 1, grid.observed.shape[1] - 1
    diagonal = [grid.observed[i, depth_match(i, layers_a, layers_b)] for i in range(layers_a + 1)]
    gaps = [abs(j / max(layers_b, 1) - i / max(layers_a, 1)) for i, j in enumerate(best_matches(grid))]
    metrics = {"depth_matched_mean": float(np.mean(diagonal)), "best_match_depth_gap": float(np.mean(gaps))}
    if grid.permutations:
        metrics["cells_beyond_every_null"] = float(np.mean(grid.null_p <= 1.0 / (1 + grid.permutations) + 1e-12))
    return metrics


def notes(config: LayerSimilarityConfig) -> list[str]:
    a, b = config.pair
    lines = [
        f"Rows are the first {config.rows} examples of {config.task}'s {config.split} split, read by {a} and {b} "
        "alike, so different tokenizers and widths compare.",
        f"Each cell carries a null ({config.permutations} permutations of {b}'s rows) and a 95% bootstrap interval "
        f"({config.bootstraps} resamples of the examples); seeds change only those draws.",
    ]
    if config.permutations and config.permutations < 19:
        lines.append(
            f"With {config.permutations} permutations the smallest p a cell can show is "
            f"{1 / (1 + config.permutations):.2f}; use 19 or more to reach p < 0.05."
        )
    if "procrustes" in config.measures:
        lines.append("procrustes is a distance: lower is more similar; its best match is the smallest.")
    return lines


def estimate_seconds(config: LayerSimilarityConfig) -> float:
    draws = 1 + config.permutations + config.bootstraps
    return 2.0 + config.rows / 300.0 + draws * config.rows / 20000.0
