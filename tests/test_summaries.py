"""Parameter counts per part and group, and task overviews (sizes, label balance, sample rows)."""

from __future__ import annotations

import numpy as np

from embedxfer.overviews import checkpoint_parameter_counts, label_balance, sample_rows, task_overview
from embedxfer.tasks import Split, Task


def test_part_and_group_counts_cover_the_whole_model(tiny_checkpoints):
    from embedxfer.checkpoints import load_checkpoint

    model = load_checkpoint(str(tiny_checkpoints["bert"])).model
    parts, groups = checkpoint_parameter_counts(str(tiny_checkpoints["bert"]))
    total = sum(p.numel() for p in model.parameters())
    assert parts["parameters"].sum() == total == groups["parameters"].sum()
    assert {"embed.tokens", "layers.0.attn", "layers.1.mlp"} <= set(parts["part"])
    assert parts.set_index("part").loc["embed.tokens", "parameters"] == 30 * 32  # vocab x hidden
    assert parts.set_index("part").loc["layers.0.attn", "group"] == "attention"
    assert abs(groups["share"].sum() - 1.0) < 1e-9


def make_task(label_kind: str = "classes") -> Task:
    texts = [f"text {i}" for i in range(10)]
    if label_kind == "classes":
        labels, names, metric, classes = np.array([0] * 7 + [1] * 3), ["neg", "pos"], "accuracy", 2
    else:
        labels, names, metric, classes = np.linspace(-1, 1, 10).astype(np.float32), None, "pearson", None
    split = Split(texts, labels)
    return Task("t", "text", label_kind, metric, classes, names, split, split.copy(), split.copy())


def test_label_balance_for_classes():
    balance = label_balance(make_task())
    train = balance[balance["split"] == "train"].set_index("label")
    assert train.loc["neg", "count"] == 7 and abs(train.loc["pos", "share"] - 0.3) < 1e-9
    assert set(balance["split"]) == {"train", "val", "test"}


def test_label_balance_for_regression_and_samples():
    task = make_task("regression")
    balance = label_balance(task)
    assert list(balance.columns) == ["split", "n", "mean", "std", "min", "max"]
    assert balance.iloc[0]["min"] == -1.0
    rows = sample_rows(task, n=3)
    assert list(rows["input"]) == ["text 0", "text 1", "text 2"] and rows.iloc[0]["label"] == "-1"
    facts = task_overview(task)
    assert facts["sizes"] == {"train": 10, "val": 10, "test": 10} and facts["metric"] == "pearson"


def test_samples_of_vector_tasks_are_readable():
    inputs = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    split = Split(inputs, np.array([[0, 1], [1, 0]]))
    task = Task("v", "vectors", "classes", "accuracy", 2, ["0", "1"], split, split, split, input_dim=2)
    rows = sample_rows(task, n=5, max_chars=20)
    assert len(rows) == 2 and rows.iloc[0]["label"] == "0 1" and len(rows.iloc[0]["input"]) <= 20
    counts = label_balance(task)
    assert counts[counts["split"] == "train"]["count"].tolist() == [2, 2]  # per-position labels all counted
