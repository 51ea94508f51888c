"""stitching: the hook path is exact, the least-squares start recovers a known map, pairs and refusals, a run on
tiny models with its figure and paired comparisons, and a decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from page_support import run_plan

from embedxfer.errors import ConfigError
from embedxfer.experiments import parse_config, plan_experiment
from embedxfer.experiments.stitching import depth_pairs
from embedxfer.trials import TrialContext, TrialSpec


def _config(*checkpoints, **fields):
    base = {"task": "tweets-binary", "train_size": 24, "eval_size": 16, "seeds": [0], "epochs": 1, "max_length": 12}
    return {"kind": "stitching", "checkpoints": [str(c) for c in checkpoints], **base, **fields}


@pytest.fixture(scope="module")
def deeper_bert(tmp_path_factory):
    """A second tiny bert, 3 blocks and 48 wide, on the same tiny WordPiece vocabulary as the conftest one."""
    from families import make_family_checkpoint

    folder = tmp_path_factory.mktemp("stitch") / "tiny-bert-3x48"
    return make_family_checkpoint(folder, "bert", seed=1, num_hidden_layers=3, hidden_size=48)


def _run(config: dict, condition: str, params: dict) -> dict[str, float]:
    parsed = parse_config(config)
    from embedxfer.experiments import get_kind

    return get_kind("stitching").run_trial(parsed, TrialSpec(condition, 0, params), TrialContext(trial_id="test"))


@pytest.mark.parametrize("family", ["bert", "llama", "gpt2"])
def test_identity_through_the_hooks_equals_the_plain_model_exactly(tiny_checkpoints, family):
    """A into itself at i = j with no stitch is the model as it is: same features bit for bit, same trained head."""
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.data import encode_texts
    from embedxfer.experiments.stitching.model import StitchedModel, pooled_features
    from embedxfer.tasks import load_task

    checkpoint = tiny_checkpoints[family]
    model, tokenizer, info = load_checkpoint(str(checkpoint))
    split = load_task("tweets-binary").test
    encoded = encode_texts(tokenizer, split.inputs[:40], split.labels[:40], 16)
    head = torch.nn.Linear(info.hidden_size, 2)
    plain = pooled_features(
        StitchedModel(None, model, i=None, j=0, stitch=None, head=head),
        encoded,
        batch_size=8,
        device=torch.device("cpu"),
    )
    for i in range(info.num_layers + 1):
        hooked = StitchedModel(model, model, i=i, j=i, stitch=None, head=head)
        assert np.array_equal(pooled_features(hooked, encoded, batch_size=8, device=torch.device("cpu")), plain), i
    config = _config(checkpoint)
    identity = _run(config, "identity", {"i": 1, "j": 1})
    alone = _run(config, "b-alone", {})
    for name in ("test_accuracy", "test_loss", "test_macro_f1", "train_loss"):
        assert identity[name] == alone[name], name
    assert "stitch_r2" not in identity and "stitch_r2" not in alone


def test_least_squares_recovers_an_invertible_map_with_bias():
    from embedxfer.experiments.stitching.fit import fit_least_squares, r_squared

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(500, 8, generator=generator, dtype=torch.float64)
    m = torch.randn(8, 8, generator=generator, dtype=torch.float64) + 3 * torch.eye(8, dtype=torch.float64)
    bias = torch.randn(8, generator=generator, dtype=torch.float64)
    y = x @ m + bias
    fitted = fit_least_squares(x.float(), y.float())
    assert r_squared(fitted.apply(x), y) == pytest.approx(1.0, abs=1e-6)
    assert torch.allclose(fitted.weight, m.T, atol=1e-4) and torch.allclose(fitted.bias, bias, atol=1e-4)
    assert r_squared(y.mean(0).expand_as(y), y) == pytest.approx(0.0)  # predicting the mean scores 0


def test_depth_pairs_meet_at_both_ends():
    assert depth_pairs(6, 3) == [(0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (6, 3)]
    assert depth_pairs(2, 2) == [(0, 0), (1, 1), (2, 2)]
    assert depth_pairs(2, 3) == [(0, 0), (1, 2), (2, 3)]


def test_a_run_on_two_tiny_berts_has_its_figure_and_paired_comparisons(tiny_checkpoints, deeper_bert, embedxfer_home):
    from embedxfer.experiments.stitching.figures import paired_rows
    from embedxfer.results.data import load_experiment_data
    from embedxfer.results.figures import build_figure, figures_for
    from embedxfer.store import Store

    plan = plan_experiment(_config(tiny_checkpoints["bert"], deeper_bert, seeds=[0, 1]))
    assert plan.conditions == ["b-alone", "stitch:0->0", "random-stitch", "stitch:1->2", "stitch:2->3"]
    assert [t.params for t in plan.trials[:3]] == [{}, {"i": 0, "j": 0}, {"i": 0, "j": 0}]
    assert not any(t.condition == "identity" for t in plan.trials)  # two different checkpoints: no identity
    store = Store()
    result = run_plan(store, plan)
    for trial in result["trials"]:
        metrics = trial["metrics"]
        assert {"test_accuracy", "test_macro_f1", "test_majority_rate", "steps"} <= set(metrics)
        assert np.isfinite(metrics["test_accuracy"])
        assert ("stitch_r2" in metrics) == (trial["condition"] != "b-alone")
    stitched = [t["metrics"] for t in result["trials"] if t["condition"].startswith("stitch:")]
    randoms = [t["metrics"] for t in result["trials"] if t["condition"] == "random-stitch"]
    assert min(m["stitch_r2"] for m in stitched) > max(m["stitch_r2"] for m in randoms)
    data = load_experiment_data(store, result["experiment_id"])
    paired = paired_rows(data)
    assert set(paired["condition"]) == {"stitch:0->0", "stitch:1->2", "stitch:2->3", "random-stitch"}
    assert set(paired["n"]) == {2} and len(paired) == 6
    assert [f.name for f in figures_for("stitching")][0] == "stitch_curve"
    curve = build_figure(data, "stitch_curve")
    lines = {t.name: t for t in curve.data if t.mode == "lines+markers"}
    assert list(lines["trained stitch (i -> j)"].x) == [0, 1, 2]
    assert list(lines["random stitch (frozen)"].x) == [0, 1, 2]
    assert "b-alone (B's own layers)" in lines
    assert any(t.fill == "toself" for t in curve.data)  # 95% bands over the two seeds
    for spec in figures_for("stitching"):
        assert build_figure(data, spec.name).data, spec.name
    from embedxfer.results.layer_view import layer_curve  # the Board's Layer view reads the same curve

    curve_rows = layer_curve(data)
    assert set(curve_rows["series"]) == {"trained stitch", "random stitch", "b-alone"}
    assert sorted(curve_rows[curve_rows["series"] == "b-alone"]["layer"]) == [0, 1, 2]
    store.close()


def test_a_llama_stitched_into_itself_runs(tiny_checkpoints):
    config = _config(tiny_checkpoints["llama"], pairs=[[1, 0], [2, 2]], random_stitch=False)
    plan = plan_experiment(config)
    assert plan.conditions == ["b-alone", "identity", "stitch:1->0", "stitch:2->2"]
    metrics = _run(config, "stitch:1->0", {"i": 1, "j": 0})
    assert np.isfinite(metrics["test_accuracy"]) and np.isfinite(metrics["stitch_r2"])
    assert metrics["trainable_parameters"] == 32 * 32 + 32 + 32 * 2 + 2  # the stitch and the head, nothing else


def test_bad_input_is_refused_in_one_sentence(tiny_checkpoints, deeper_bert):
    bert, llama = tiny_checkpoints["bert"], tiny_checkpoints["llama"]
    with pytest.raises(ConfigError, match=r"\[3, 1\], outside the models' depth: i must be 0\.\.2 .* j 0\.\.3"):
        plan_experiment(_config(bert, deeper_bert, pairs=[[3, 1]]))
    with pytest.raises(ConfigError, match="tokenize text differently.*layer_similarity"):
        plan_experiment(_config(bert, llama))
    with pytest.raises(ConfigError, match="Field 'pairs' must be depth"):
        parse_config(_config(bert, pairs="sideways"))
    with pytest.raises(ConfigError, match=r"must hold \[i, j\] pairs"):
        parse_config(_config(bert, pairs=[[1, 2, 3]]))
    with pytest.raises(ConfigError, match="duplicates"):
        parse_config(_config(bert, pairs=[[1, 1], [1, 1]]))
    with pytest.raises(ConfigError, match="checkpoints"):
        parse_config(_config(bert, bert, llama))
    with pytest.raises(ConfigError, match="best:no-such-experiment names no experiment"):
        plan_experiment(_config(bert, pairs="best:no-such-experiment"))
    with pytest.raises(ConfigError, match="digits.*vectors inputs"):
        plan_experiment(_config(bert, task="digits"))


def test_best_pairs_come_from_a_layer_similarity_experiment_of_the_same_checkpoints(
    tiny_checkpoints, deeper_bert, embedxfer_home
):
    from page_support import run_plan

    from embedxfer.experiments.layer_similarity.pairs import best_pairs
    from embedxfer.store import Store

    bert, deeper_bert = str(tiny_checkpoints["bert"]), str(deeper_bert)
    similarity = {"kind": "layer_similarity", "checkpoints": [bert, deeper_bert], "rows": 40, "max_length": 16}
    similarity |= {"measures": ["cka"], "permutations": 2, "bootstraps": 2}
    experiment_id = run_plan(Store(), plan_experiment(similarity))["experiment_id"]
    expected = list(dict.fromkeys(best_pairs(experiment_id, bert, deeper_bert)))
    plan = plan_experiment(_config(bert, deeper_bert, pairs=f"best:{experiment_id}"))
    stitched = [(s.params["i"], s.params["j"]) for s in plan.trials if s.condition.startswith("stitch:")]
    assert list(dict.fromkeys(stitched)) == expected and len(expected) == 3  # one pair per hidden state of A
    with pytest.raises(ConfigError, match="compared .* not .*; run layer_similarity on these checkpoints first"):
        plan_experiment(_config(deeper_bert, bert, pairs=f"best:{experiment_id}"))
    probing = {"kind": "probing", "checkpoints": [bert], "train_size": 20, "eval_size": 10, "seeds": [0]}
    other = run_plan(Store(), plan_experiment(probing | {"max_length": 16}))["experiment_id"]
    with pytest.raises(ConfigError, match=f"best:{other} names a probing experiment"):
        plan_experiment(_config(bert, deeper_bert, pairs=f"best:{other}"))


@pytest.mark.real
def test_real_minilm_l6_into_minilm_l3(embedxfer_home):
    config = {
        "kind": "stitching",
        "checkpoints": ["minilm-l6", "minilm-l3"],
        "pairs": [[3, 2]],
        "train_size": 60,
        "eval_size": 40,
        "seeds": [0],
        "epochs": 1,
        "max_length": 32,
    }
    metrics = _run(config, "stitch:3->2", {"i": 3, "j": 2})
    assert all(np.isfinite(v) for v in metrics.values())
    assert 0.0 < metrics["stitch_r2"] <= 1.0 and 0.0 <= metrics["test_accuracy"] <= 1.0
