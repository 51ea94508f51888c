"""layer_reinit: scheme conditions, exactly the requested blocks change, bad input, a run with its figures."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from page_support import run_plan

from embedxfer.errors import ConfigError
from embedxfer.experiments import parse_config, plan_experiment
from embedxfer.experiments.layer_reinit import SCHEMES, conditions, layer_order
from embedxfer.experiments.layer_reinit.trial import _lr_scales, prepare_backbone
from embedxfer.trials import TrialSpec


def _config(checkpoint, **fields):
    return {"kind": "layer_reinit", "checkpoint": str(checkpoint), "task": "tweets-binary", **fields}


def test_condition_names_and_reinitialized_blocks():
    progressive = conditions("progressive", 3)
    assert [c.name for c in progressive] == ["keep:3", "keep:2", "keep:1", "keep:0"]
    assert [c.reinit for c in progressive] == [(), (2,), (1, 2), (0, 1, 2)]
    bottom = conditions("progressive-bottom", 3)
    assert [c.name for c in bottom] == ["keep:3", "reinit-bottom:1", "reinit-bottom:2", "reinit-bottom:3"]
    assert bottom[2].reinit == (0, 1)
    local = conditions("localized", 4, block_width=2)
    assert [c.name for c in local] == ["keep:4", "block:0-1", "block:1-2", "block:2-3"]
    assert local[2].reinit == (1, 2) and local[2].facts == {"block": [1, 2]}
    inverse = conditions("localized-inverse", 4, block_width=2)
    assert [c.name for c in inverse][1:] == ["all-but:0-1", "all-but:1-2", "all-but:2-3"]
    assert inverse[2].reinit == (0, 3)
    scramble = conditions("scramble", 5, permutations=4)
    assert [c.name for c in scramble] == ["keep:5", "scramble:0", "scramble:1", "scramble:2", "scramble:3"]
    for c in scramble[1:]:
        assert sorted(c.facts["order"]) == list(range(5)) and c.facts["order"] != list(range(5)) and not c.reinit
    assert layer_order(5, 2) == layer_order(5, 2)


def _block_tensors(model, index):
    from embedxfer.parts import layer_modules

    return {k: v.clone() for k, v in layer_modules(model)[index].state_dict().items()}


@pytest.mark.parametrize("family", ["bert", "llama", "gpt2"])
@pytest.mark.parametrize("scheme", SCHEMES)
def test_exactly_the_requested_blocks_change(tiny_checkpoints, family, scheme):
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.parts import get_part

    pretrained, _, info = load_checkpoint(str(tiny_checkpoints[family]))
    config = parse_config(_config(tiny_checkpoints[family], scheme=scheme, block_width=1, permutations=2))
    before = [_block_tensors(pretrained, i) for i in range(info.num_layers)]
    embed_before = {k: v.clone() for k, v in get_part(pretrained, "embed.tokens").items()}
    for condition in conditions(scheme, info.num_layers, block_width=1, permutations=2):
        spec = TrialSpec(condition.name, 0, {**condition.facts, "reinit": list(condition.reinit)})
        model = prepare_backbone(pretrained, spec, config)
        for i in range(info.num_layers):
            after = _block_tensors(model, i)
            source = before[condition.facts["order"][i]] if "order" in condition.facts else before[i]
            for name, value in after.items():
                lowered = name.lower()
                if i not in condition.reinit:
                    assert torch.equal(value, source[name]), f"{condition.name}: block {i} {name} changed"
                elif "norm" in lowered or "ln_" in lowered:
                    assert torch.all(value == (1.0 if name.endswith("weight") else 0.0)), f"{name} not reset"
                elif value.dim() == 2:
                    assert not torch.equal(value, source[name]), f"{condition.name}: {i} {name} kept pretrained"
                else:
                    assert torch.equal(value, source[name]), f"{condition.name}: bias {name} of block {i} changed"
        for name, value in get_part(model, "embed.tokens").items():
            assert torch.equal(value, embed_before[name]), "embeddings must stay pretrained"
    for i in range(info.num_layers):  # the shared instance is untouched
        for name, value in _block_tensors(pretrained, i).items():
            assert torch.equal(value, before[i][name])


def test_norms_reset_unless_kept_and_embeddings_on_request(tiny_checkpoints):
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.parts import get_part

    pretrained, _, _ = load_checkpoint(str(tiny_checkpoints["bert"]))
    with torch.no_grad():  # make the pretrained norms visibly non-identity
        for p in get_part(pretrained, "layers.1.norm").values():
            p.add_(0.5)
    spec = TrialSpec("keep:1", 0, {"reinit": [1]})
    reset = prepare_backbone(pretrained, spec, parse_config(_config(tiny_checkpoints["bert"])))
    kept = prepare_backbone(pretrained, spec, parse_config(_config(tiny_checkpoints["bert"], keep_layernorm=True)))
    for name, value in get_part(reset, "layers.1.norm").items():
        assert torch.all(value == (1.0 if name.endswith("weight") else 0.0))
    for name, value in get_part(kept, "layers.1.norm").items():
        assert torch.equal(value, get_part(pretrained, "layers.1.norm")[name])
    with torch.no_grad():
        for p in get_part(pretrained, "layers.1.norm").values():
            p.sub_(0.5)
    config = parse_config(_config(tiny_checkpoints["bert"], reinit_embeddings=True, init="paper-code"))
    model = prepare_backbone(pretrained, TrialSpec("keep:2", 0, {"reinit": []}), config)
    tokens = get_part(model, "embed.tokens")["weight"]
    assert not torch.equal(tokens, get_part(pretrained, "embed.tokens")["weight"])
    assert tokens.abs().max() <= 0.0008 + 1e-7 and 3e-4 < tokens.std() < 6e-4  # the paper code's std ~4.6e-4


def test_reinit_lr_multiplier_scales_only_reinitialized_blocks(tiny_checkpoints):
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.engine import _lr_groups
    from embedxfer.heads import OutputSpec, SequenceModel

    backbone, _, info = load_checkpoint(str(tiny_checkpoints["bert"]))
    model = SequenceModel(backbone, info.hidden_size, OutputSpec(classes=2))
    config = parse_config(_config(tiny_checkpoints["bert"], reinit_lr_multiplier=5.0))
    scales = _lr_scales(model, [1], config)
    assert scales and all(".1." in name for name in scales) and set(scales.values()) == {5.0}
    groups = _lr_groups(list(model.named_parameters()), 2e-5, scales)
    assert sorted(g["lr"] for g in groups) == pytest.approx([2e-5, 1e-4])
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))


def test_bad_input_is_one_actionable_line(tiny_checkpoints, tmp_path):
    bert = tiny_checkpoints["bert"]
    with pytest.raises(ConfigError, match="train_sizes.*has only"):
        plan_experiment(_config(bert, train_sizes=[10_000_000]))
    with pytest.raises(ConfigError, match="block_width.*wider than.*2 layers"):
        plan_experiment(_config(bert, scheme="localized", block_width=3))
    with pytest.raises(ConfigError, match="scheme.*must be one of progressive"):
        parse_config(_config(bert, scheme="sideways"))
    with pytest.raises(ConfigError, match="regression labels.*probe: false"):
        plan_experiment(_config(bert, task="word-valence"))
    from dataclasses import replace

    from embedxfer.checkpoints import arch_info
    from embedxfer.experiments.layer_reinit.trial import _check_task
    from embedxfer.tasks import load_task

    small = replace(arch_info(str(bert)), vocab_size=8)  # fewer embedding rows than listops has token ids
    with pytest.raises(ConfigError, match="listops.*token ids.*8 embedding rows"):
        _check_task(load_task("listops"), small)
    with pytest.raises(ConfigError, match="vectors inputs.*probe: false"):
        plan_experiment(_config(bert, task="digits"))
    plan = plan_experiment(_config(bert, task="digits", probe=False, train_sizes=[8]))
    assert plan.conditions == ["keep:2", "keep:1", "keep:0"]


def test_a_small_run_has_both_curves_and_every_figure(tiny_checkpoints, embedxfer_home):
    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.figures import build_figure, figures_for
    from embedxfer.store import Store

    config = _config(
        tiny_checkpoints["bert"],
        train_sizes=[16, 32],
        seeds=[0, 1],
        epochs=1,
        batch_size=8,
        max_length=16,
        eval_size=24,
    )
    plan = plan_experiment(config)
    assert len(plan.trials) == 3 * 2 * 2 + 3 * 2 * 2  # keep:2..0 x sizes x seeds + probe layers 0..2 x sizes x seeds
    finetune = [t for t in plan.trials if t.condition == "keep:1"][0]
    assert finetune.params == {"train_size": 16, "k": 1, "reinit": [1]}
    store = Store()
    result = run_plan(store, plan)
    experiment_id = result["experiment_id"]
    probe_rows = [s for s in result["summary"] if s["condition"] == "probe" and s["metric"] == "test_accuracy"]
    assert {(s["params"]["train_size"], s["params"]["layer"]) for s in probe_rows} == {
        (n, layer) for n in (16, 32) for layer in range(3)
    }
    reinit_rows = [s for s in result["summary"] if s["condition"] == "keep:0" and s["metric"] == "test_accuracy"]
    assert [s["params"] for s in reinit_rows] == [{"train_size": 16}, {"train_size": 32}]
    assert all(s["n"] == 2 for s in reinit_rows + probe_rows)
    probe_metrics = next(t["metrics"] for t in result["trials"] if t["condition"] == "probe")
    assert {"control_accuracy", "selectivity", "probe_strength"} <= set(probe_metrics)
    data = load_experiment_data(store, experiment_id)
    names = [f.name for f in figures_for("layer_reinit")]
    assert names[0] == "layers"
    for name in names:
        fig = build_figure(data, name)
        assert fig.data, f"{name} drew nothing"
    layers = build_figure(data, "layers")
    assert {t.xaxis for t in layers.data} == {"x", "x2"}  # two panels on one shared layer axis
    means = [t for t in layers.data if t.mode == "lines+markers"]  # bands are lines only
    assert {(t.xaxis, tuple(t.x)) for t in means} == {("x", (0, 1, 2)), ("x2", (0, 1, 2))}
    assert len([t for t in means if t.xaxis == "x2"]) == 2  # one reinit curve per train size
    from embedxfer.experiments.layer_reinit.figures import paired_rows

    paired = paired_rows(data)
    assert set(paired["condition"]) == {"keep:1", "keep:0"} and set(paired["n"]) == {2}
    store.close()


@pytest.mark.real
def test_real_tiny_layer_reinit_on_minilm_l3(embedxfer_home):
    from embedxfer.cli import main

    code = main(
        [
            "run",
            "preset:layer_reinit-quick",
            "--set",
            "train_sizes=[24]",
            "--set",
            "seeds=[0]",
            "--set",
            "epochs=1",
            "--set",
            "eval_size=48",
            "--json",
        ]
    )
    assert code == 0
    from embedxfer.results import experiment_json
    from embedxfer.store import Store

    store = Store()
    experiment = store.list_experiments()[0]
    result = experiment_json(store, experiment["experiment_id"])
    conditions_run = {t["condition"] for t in result["trials"]}
    assert conditions_run == {"keep:3", "keep:2", "keep:1", "keep:0", "probe"}
    assert all(t["status"] == "completed" for t in result["trials"])
    accuracies = [t["metrics"]["test_accuracy"] for t in result["trials"]]
    assert all(0.0 <= a <= 1.0 for a in accuracies) and np.isfinite(accuracies).all()
    store.close()


def test_bad_input_on_the_cli_is_exit_2_and_nothing_stored(tiny_checkpoints, embedxfer_home, tmp_path, capsys):
    from embedxfer.cli import main
    from embedxfer.store import Store

    config = tmp_path / "bad.yaml"
    config.write_text(f"kind: layer_reinit\ncheckpoint: {tiny_checkpoints['bert']}\ntrain_sizes: [10000000]\n")
    assert main(["run", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Field 'train_sizes' asks for 10000000") and "\n" not in err
    assert main(["run", "preset:probing-quick", "--set", "checkpoints=[]"]) == 2
    assert "must list at least one checkpoint" in capsys.readouterr().err
    assert Store().list_experiments() == []
