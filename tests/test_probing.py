"""probing: the layer feature cache (one forward pass, exact, keyed by checkpoint and task), probes and controls,
paired differences, bad input, and a run over two checkpoints."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch
from page_support import run_plan

from embedxfer.errors import ConfigError, TaskError
from embedxfer.experiments import parse_config, plan_experiment
from embedxfer.features import encode_layers, layer_features
from embedxfer.probes import fit_probe, shuffled
from embedxfer.stats import paired_difference


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _file_task(tmp_path, rows: int = 40, flip: bool = False) -> str:
    words = ["good movie", "bad day", "i love it", "i hate it", "very happy", "very sad"]
    lines = ["text,label"]
    for i in range(rows):
        label = i % 2 if not flip else 1 - i % 2
        lines.append(f"{words[i % len(words)]} {i},{'pos' if label else 'neg'}")
    path = tmp_path / ("flipped.csv" if flip else "task.csv")
    path.write_text("\n".join(lines) + "\n")
    return f"file:{path}"


def test_cached_features_equal_a_fresh_forward_pass(tiny_checkpoints, cache, tmp_path):
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.tasks import load_task

    checkpoint = str(tiny_checkpoints["bert"])
    task = load_task(_file_task(tmp_path))
    rows = np.arange(6)
    first = layer_features(checkpoint, task, "train", rows, max_length=16)
    assert first.computed == 6 and first.cached == 0 and first.features.shape == (6, 3, 32)
    again = layer_features(checkpoint, task, "train", rows[::-1], max_length=16)
    assert again.computed == 0 and again.cached == 6
    np.testing.assert_array_equal(again.features, first.features[::-1])
    model, tokenizer, _ = load_checkpoint(checkpoint)
    for row in (0, 3):  # one example at a time: no padding at all
        encoded = tokenizer(task.train.inputs[row], truncation=True, max_length=16, return_tensors="pt")
        with torch.no_grad():
            states = model(**encoded, output_hidden_states=True).hidden_states
        expected = np.stack([h[0].mean(0).numpy() for h in states])
        np.testing.assert_allclose(first.features[row], expected, rtol=1e-5, atol=1e-6)


def test_only_missing_rows_are_computed_and_keys_change_with_the_inputs(tiny_checkpoints, cache, tmp_path):
    from embedxfer.tasks import load_task

    checkpoint = str(tiny_checkpoints["bert"])
    task = load_task(_file_task(tmp_path))
    assert layer_features(checkpoint, task, "train", np.arange(10), max_length=16).computed == 10
    assert layer_features(checkpoint, task, "train", np.arange(5, 15), max_length=16).computed == 5
    # another pooling, length or split is another key
    assert layer_features(checkpoint, task, "train", np.arange(5), pooling="first", max_length=16).computed == 5
    assert layer_features(checkpoint, task, "train", np.arange(5), max_length=8).computed == 5
    # a changed task (same file name, other content) misses
    changed = load_task(_file_task(tmp_path, flip=True))
    assert changed.content_hash() != task.content_hash()
    assert layer_features(checkpoint, changed, "train", np.arange(5), max_length=16).computed == 5
    # a changed checkpoint (same folder, other weights) misses
    copy = tmp_path / "copy"
    shutil.copytree(checkpoint, copy)
    assert layer_features(str(copy), task, "train", np.arange(5), max_length=16).computed == 0  # same bytes: hit
    from conftest import make_tiny_checkpoint

    make_tiny_checkpoint(copy, "bert", seed=1)
    assert layer_features(str(copy), task, "train", np.arange(5), max_length=16).computed == 5


def test_encode_layers_gives_every_hidden_state_for_causal_models(tiny_checkpoints):
    out = encode_layers(str(tiny_checkpoints["llama"]), ["good movie", "i hate it ."], "last", 16)
    assert out.shape == (2, 3, 32) and np.isfinite(out).all()


def test_probe_reads_a_separable_layer_and_the_control_does_not():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    features = rng.normal(size=(400, 16))
    features[:, 0] += 3 * labels
    train, test = slice(0, 300), slice(300, 400)
    fitted = fit_probe(features[train], labels[train], features[test], labels[test], seed=0)
    control = fit_probe(features[train], shuffled(labels[train], 0), features[test], labels[test], seed=0)
    assert fitted.score > 0.9 and control.score < 0.7 and fitted.strength > 0
    mlp = fit_probe(features[train], labels[train], features[test], labels[test], probe="mlp", seed=0)
    assert mlp.score > 0.85
    target = features[:, 0] * 2 + rng.normal(scale=0.1, size=400)
    regression = fit_probe(
        features[train], target[train], features[test], target[test], probe="mlp", metric="pearson", seed=0
    )
    assert regression.score > 0.9


def test_paired_difference_on_a_hand_made_table():
    a = {0: 0.80, 1: 0.70, 2: 0.90, 3: 0.75}
    b = {0: 0.70, 1: 0.65, 2: 0.80, 4: 0.10}  # seed 3 and 4 have no partner: left out
    d = paired_difference(a, b)
    assert d.n == 3 and d.mean == pytest.approx((0.10 + 0.05 + 0.10) / 3)
    # differences 0.10, 0.05, 0.10: sd 0.028868, t(0.975, 2) = 4.302653
    half = 4.302653 * 0.0288675 / np.sqrt(3)
    assert d.ci_low == pytest.approx(d.mean - half, abs=1e-6) and d.ci_high == pytest.approx(d.mean + half, abs=1e-6)
    assert paired_difference({0: 1.0}, {1: 1.0}).n == 0
    assert paired_difference({0: float("nan"), 1: 0.5}, {0: 0.1, 1: 0.2}).n == 1


def test_bad_probing_input(tiny_checkpoints):
    bert = str(tiny_checkpoints["bert"])
    with pytest.raises(ConfigError, match="checkpoints' must list at least one"):
        parse_config({"kind": "probing", "checkpoints": []})
    with pytest.raises(ConfigError, match="regression labels; a logistic probe needs classes"):
        plan_experiment({"kind": "probing", "checkpoints": [bert], "task": "word-valence"})
    with pytest.raises(ConfigError, match="vectors inputs"):
        plan_experiment({"kind": "probing", "checkpoints": [bert], "task": "digits"})
    with pytest.raises(TaskError, match="has only .* training examples"):
        plan_experiment({"kind": "probing", "checkpoints": [bert], "train_size": 10_000_000})
    plan = plan_experiment(
        {
            "kind": "probing",
            "checkpoints": [bert],
            "task": "word-valence",
            "probe": "mlp",
            "train_size": 50,
            "seeds": [0],
        }
    )
    assert len(plan.trials) == 3


def test_probing_two_checkpoints_end_to_end(tiny_checkpoints, embedxfer_home, cache):
    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.figures import build_figure, figures_for
    from embedxfer.store import Store

    checkpoints = [str(tiny_checkpoints["bert"]), str(tiny_checkpoints["gpt2"])]
    plan = plan_experiment(
        {
            "kind": "probing",
            "checkpoints": checkpoints,
            "task": "tweets-binary",
            "train_size": 60,
            "seeds": [0, 1],
            "max_length": 16,
            "eval_size": 40,
        }
    )
    assert len(plan.trials) == 2 * 3 * 2
    store = Store()
    result = run_plan(store, plan)
    experiment_id = result["experiment_id"]
    rows = [s for s in result["summary"] if s["metric"] == "selectivity"]
    assert {(s["condition"], s["params"]["layer"]) for s in rows} == {(c, i) for c in checkpoints for i in range(3)}
    computed = sum(t["metrics"]["features_computed"] for t in result["trials"])
    from embedxfer.tasks import load_task

    task = load_task("tweets-binary")
    train_rows = np.union1d(task.subsample_indices(60, 0), task.subsample_indices(60, 1))
    assert computed == 2 * (40 + len(train_rows))  # each row encoded once per checkpoint, whatever the layer
    data = load_experiment_data(store, experiment_id)
    for spec in figures_for("probing"):
        assert build_figure(data, spec.name).data
    store.close()
