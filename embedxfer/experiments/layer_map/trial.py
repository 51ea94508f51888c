"""layer_map trials: one per (layer, seed); features come from the probing feature cache (one forward pass for
every layer, `embedxfer.features`), the projection from the projection cache."""

from __future__ import annotations

import numpy as np

from embedxfer.errors import ConfigError
from embedxfer.experiments.layer_map.config import LayerMapConfig
from embedxfer.trials import TrialContext, TrialSpec

MAP_ARTIFACT = "layer_map.parquet"
TEXT_CHARS = 120  # hover text per example


def _rows(config: LayerMapConfig, task) -> np.ndarray:
    split = getattr(task, config.split)
    if split is None or not len(split.inputs):
        raise ConfigError(f"Task {task.name!r} has no {config.split} split; pick split: train or test.")
    return np.arange(min(len(split.inputs), config.examples or len(split.inputs)))


def expand(config: LayerMapConfig) -> list[TrialSpec]:
    from embedxfer.analysis.projection import check_projection, method_params
    from embedxfer.checkpoints import arch_info
    from embedxfer.tasks import load_task

    info = arch_info(config.checkpoint)
    task = load_task(config.task)
    if task.modality != "text":
        raise ConfigError(
            f"Layer maps show a checkpoint's representation of text, and task {task.name!r} has {task.modality} "
            "inputs; pick a text task (tweets-binary, word-valence-binary, a file task)."
        )
    layers = config.layers if config.layers is not None else list(range(info.num_layers + 1))
    if max(layers) > info.num_layers:
        raise ConfigError(
            f"{config.checkpoint} has layers 0..{info.num_layers} (0 = embedding output); field 'layers' asks "
            f"for {max(layers)}."
        )
    check_projection(config.method, method_params(config.method, config.projection_params()), len(_rows(config, task)))
    return [
        TrialSpec(condition=config.checkpoint, seed=seed, params={"layer": layer})
        for seed in config.seeds
        for layer in layers
    ]


def label_agreement(features: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Share of each example's k nearest examples (cosine) that carry its label: how well a layer separates them."""
    from embedxfer.analysis.similarity import knn_lists

    k = min(k, len(labels) - 1)
    neighbours = knn_lists(features, k)
    return float((labels[neighbours] == labels[:, None]).mean())


def run_trial(config: LayerMapConfig, spec: TrialSpec, ctx: TrialContext) -> dict[str, float]:
    import pandas as pd

    from embedxfer.analysis.projection import project
    from embedxfer.devices import resolve_device
    from embedxfer.features import layer_features
    from embedxfer.paths import write_atomic
    from embedxfer.tasks import load_task

    task = load_task(config.task)
    rows = _rows(config, task)
    layer = int(spec.params["layer"])
    result = layer_features(
        config.checkpoint,
        task,
        config.split,
        rows,
        pooling=config.pooling,
        max_length=config.max_length,
        device=str(resolve_device(ctx.device_for(config.device))),
        progress=lambda done, total: ctx.report({"phase": "encoding", "step": done, "total": total}),
        cancelled=ctx.cancel.is_set,
    )
    ctx.check_cancel()
    features = np.asarray(result.features[:, layer], dtype=np.float32)
    projection = project(
        features, config.method, config.projection_params(), spec.seed, progress=lambda m: ctx.report({"phase": m})
    )
    split = getattr(task, config.split)
    labels = np.asarray(split.labels)[rows]
    texts = split.texts if split.texts is not None else split.inputs
    names = task.label_names
    shown = [names[int(v)] for v in labels] if names and task.label_kind != "regression" else labels
    frame = pd.DataFrame(
        {
            "example": rows,
            "label": shown,
            "text": [str(texts[i])[:TEXT_CHARS] for i in rows],
            "x": projection.coords[:, 0],
            "y": projection.coords[:, 1],
        }
    )
    if ctx.artifact_dir is not None:
        write_atomic(ctx.artifact_dir / MAP_ARTIFACT, frame.to_parquet(index=False))
    metrics = {
        "rows": float(len(rows)),
        "features_computed": float(result.computed),
        "features_cached": float(result.cached),
        "projection_cached": float(projection.cached),
        "projection_seconds": projection.seconds,
    }
    if task.label_kind != "regression":
        metrics["label_agreement"] = label_agreement(features, labels)
        metrics["map_label_agreement"] = label_agreement(projection.coords, labels)
    return metrics


def estimate_seconds(config: LayerMapConfig) -> float:
    examples = config.examples or 2000
    per_row = {"pca": 0.0001, "umap": 0.004, "tsne": 0.01}[config.method]
    return 3.0 + examples * per_row + examples / 150.0 / 7  # encoding once, shared by the layers' trials
