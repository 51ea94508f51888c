"""Overviews for the catalog views: parameters per part of a checkpoint, and a task at a glance.

Pure functions returning pandas frames; the dashboard renders them and a CLI or notebook can print
them. Counting parameters needs the model (loaded once through the shared checkpoint cache);
summarising a task needs only the loaded splits.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from torch import nn

    from embedxfer.tasks import Split, Task


def part_parameter_counts(model: nn.Module) -> pd.DataFrame:
    """One row per canonical part: part, group (FPT parameter group), parameters, share of the total."""
    from embedxfer.parts import get_part, part_group, part_names

    rows = []
    for name in part_names(model):
        count = sum(p.numel() for p in get_part(model, name).values())
        rows.append({"part": name, "group": part_group(name), "parameters": int(count)})
    frame = pd.DataFrame(rows, columns=["part", "group", "parameters"])
    total = frame["parameters"].sum()
    frame["share"] = frame["parameters"] / total if total else 0.0
    return frame


def group_parameter_counts(model: nn.Module) -> pd.DataFrame:
    """One row per parameter group (input, output, layernorm, positions, attention, mlp) with its count."""
    from embedxfer.parts import param_groups

    rows = [
        {"group": group, "tensors": len(params), "parameters": int(sum(p.numel() for p in params))}
        for group, params in param_groups(model).items()
    ]
    frame = pd.DataFrame(rows, columns=["group", "tensors", "parameters"])
    total = frame["parameters"].sum()
    frame["share"] = frame["parameters"] / total if total else 0.0
    return frame


def checkpoint_parameter_counts(checkpoint_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-part, per-group) parameter counts of a checkpoint's base model; loads it (shared, not copied)."""
    from embedxfer.checkpoints import load_checkpoint

    model = load_checkpoint(checkpoint_id).model
    return part_parameter_counts(model), group_parameter_counts(model)


# --- tasks -----------------------------------------------------------------------------------------------------------


def label_balance(task: Task) -> pd.DataFrame:
    """Classes: count and share of each label per split. Regression: mean, std, min and max per split."""
    splits = {"train": task.train, "val": task.val, "test": task.test}
    if task.label_kind == "regression":
        rows = []
        for split_name, split in splits.items():
            labels = np.asarray(split.labels, dtype=np.float64).reshape(len(split.labels), -1)[:, 0]
            rows.append(
                {
                    "split": split_name,
                    "n": len(labels),
                    "mean": float(labels.mean()) if len(labels) else np.nan,
                    "std": float(labels.std()) if len(labels) else np.nan,
                    "min": float(labels.min()) if len(labels) else np.nan,
                    "max": float(labels.max()) if len(labels) else np.nan,
                }
            )
        return pd.DataFrame(rows)
    names = list(task.label_names or [str(i) for i in range(task.num_classes or 0)])
    rows = []
    for split_name, split in splits.items():
        labels = np.asarray(split.labels)
        if labels.ndim > 1:  # per-position labels (bit-memory): count every position
            labels = labels.reshape(-1)
        counts = np.bincount(labels.astype(np.int64), minlength=len(names))
        total = counts.sum()
        for idx, count in enumerate(counts):
            label = names[idx] if idx < len(names) else str(idx)
            rows.append(
                {"split": split_name, "label": label, "count": int(count), "share": count / total if total else 0}
            )
    return pd.DataFrame(rows, columns=["split", "label", "count", "share"])


def _example_text(split: Split, i: int, max_chars: int) -> str:
    if split.texts is not None:
        text = str(split.texts[i])
    elif isinstance(split.inputs, list):
        text = str(split.inputs[i])
    else:
        values = np.asarray(split.inputs[i])
        if split.lengths is not None:
            values = values[: int(split.lengths[i])]
        text = np.array2string(values.reshape(-1)[:40], precision=2, separator=" ", threshold=40)
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def _label_text(task: Task, label: Any) -> str:
    value = np.asarray(label)
    if value.ndim:
        return " ".join(str(v) for v in value.reshape(-1)[:20])
    if task.label_kind == "classes" and task.label_names:
        return str(task.label_names[int(value)])
    return f"{float(value):.3g}" if task.label_kind == "regression" else str(int(value))


def sample_rows(task: Task, n: int = 5, *, max_chars: int = 160) -> pd.DataFrame:
    """The first `n` training examples (the split is already shuffled) as text and readable label."""
    split = task.train
    count = min(n, len(split))
    rows = [
        {"input": _example_text(split, i, max_chars), "label": _label_text(task, split.labels[i])} for i in range(count)
    ]
    return pd.DataFrame(rows, columns=["input", "label"])


def task_overview(task: Task) -> dict[str, Any]:
    """Facts a catalog shows about a task: name, modality, labels, metric, split sizes and its info."""
    info = task.info or {}
    return {
        "name": task.name,
        "modality": task.modality,
        "label_kind": task.label_kind,
        "metric": task.metric,
        "classes": task.num_classes,
        "sizes": task.sizes(),
        "description": info.get("description", ""),
        "source": info.get("source", ""),
        "cleaning": info.get("cleaning"),
        "input_dim": task.input_dim,
        "vocab_size": task.vocab_size,
    }
