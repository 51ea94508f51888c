"""frozen_transformer on tiny checkpoints of each family: exactly the chosen groups train and frozen weights stay
bit-identical; statistics-only matches each tensor's mean and std; every condition, the ladder and the lr sweep run
end to end with figures and paired comparisons; the attention artifact; the efficiency ratio's censoring; bad input
(page, CLI, plan); one real run on a bundled checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from page_support import run_plan
from training_support import assert_only_trainable_parameters_move

from embedxfer.errors import ConfigError
from embedxfer.experiments import plan_experiment
from embedxfer.experiments.frozen_transformer import GROUPS, efficiency_ratio, paired_rows
from embedxfer.experiments.frozen_transformer.attention import ARTIFACT, read_attention
from embedxfer.experiments.frozen_transformer.model import (
    FPTModel,
    LSTMBackbone,
    random_backbone,
    set_trainable,
    statistics_only_backbone,
)
from embedxfer.heads import OutputSpec
from embedxfer.results import build_figure, figures_for, load_experiment_data
from embedxfer.store import Store

FAMILIES = ("bert", "llama", "gpt2")
XOR = "bit-xor?n_train=64&n_val=32&n_test=32"
LISTOPS = "listops?n_train=64&n_val=32&n_test=32&max_length=40"


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    return Store(tmp_path / "home")


def _config(checkpoint, **extra):
    return {
        "kind": "frozen_transformer",
        "checkpoint": str(checkpoint),
        "task": XOR,
        "seeds": [0],
        "steps": 4,
        "eval_every": 2,
        "batch_size": 8,
        **extra,
    }


def _model(checkpoint, input_dim=1, vocab=None, output=OutputSpec(classes=2, positions=5, output_tokens=5)):
    from embedxfer.checkpoints import fresh_model

    loaded = fresh_model(str(checkpoint))
    return FPTModel(loaded.model, loaded.info.hidden_size, output, input_dim=input_dim, vocab=vocab)


def test_the_groups_mirror_the_parts_module():
    from embedxfer.parts import GROUPS as PART_GROUPS

    assert GROUPS == PART_GROUPS


@pytest.mark.parametrize("family", FAMILIES)
def test_exactly_the_chosen_groups_train_and_frozen_weights_stay_bit_identical(family, tiny_checkpoints):
    from embedxfer.parts import get_part, param_groups, part_names

    model = _model(tiny_checkpoints[family])
    chosen = ["input", "output", "layernorm", "positions"]
    counts = set_trainable(model, chosen)
    groups = param_groups(model)
    never_read = ["embed.tokens", *(["pooler"] if "pooler" in part_names(model) else [])]  # inputs_embeds, last token
    unused = {id(p) for name in never_read for p in get_part(model, name).values()}
    for group, params in groups.items():
        for param in params:
            assert param.requires_grad == (group in chosen and id(param) not in unused), (group, param.shape)
    assert counts["attention"] == counts["mlp"] == 0 and counts["output"] > 0 and counts["input"] > 0
    assert (counts["positions"] == 0) == (family == "llama")  # rotary embeddings have no weights
    assert_only_trainable_parameters_move(model, XOR, steps=5)


def test_statistics_only_matches_each_tensors_mean_and_std(tiny_checkpoints):
    from embedxfer.checkpoints import load_checkpoint

    pretrained = load_checkpoint(str(tiny_checkpoints["bert"])).model
    noise = statistics_only_backbone(pretrained, seed=3)
    for (name, a), (_, b) in zip(pretrained.named_parameters(), noise.named_parameters(), strict=True):
        if a.numel() < 2:
            continue
        assert torch.allclose(b.double().mean(), a.double().mean(), atol=1e-6), name
        assert torch.allclose(b.double().std(), a.double().std(), rtol=1e-5, atol=1e-7), name
        if a.double().std() > 0:
            assert not torch.equal(a, b), name  # the structure is gone
    again = statistics_only_backbone(pretrained, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(noise.parameters(), again.parameters(), strict=True))
    fresh = random_backbone(pretrained, seed=3)
    assert type(fresh) is type(pretrained)
    position = "embeddings.position_embeddings.weight"
    assert not torch.equal(fresh.get_parameter(position), pretrained.get_parameter(position))


@pytest.mark.parametrize("family", FAMILIES)
def test_every_condition_the_ladder_and_the_lr_sweep_run(family, store, tiny_checkpoints):
    config = _config(
        tiny_checkpoints[family], tasks=[XOR, LISTOPS], seeds=[0, 1], ladder=True, lrs=[1e-3, 3e-3], threshold=0.5
    )
    plan = plan_experiment(config)
    rungs = 4 if family == "llama" else 5  # llama: +positions adds nothing, so that rung is left out
    assert len(plan.conditions) == 5 + rungs
    assert len(plan.trials) == 2 * 2 * 2 * (5 + rungs)  # seeds x tasks x lrs x conditions
    result = run_plan(store, plan)
    data = load_experiment_data(store, result["experiment_id"])
    trials = data.completed()
    assert set(trials["task"]) == {XOR, LISTOPS} and set(trials["lr"]) == {1e-3, 3e-3}
    by = trials.groupby("condition")["trainable_parameters"].max()
    assert by["pretrained"] == by["random"] == by["statistics-only"] < by["scratch-full"]
    assert by["ladder:output"] < by["ladder:output+layernorm"] < by["ladder:output+layernorm+input"]
    assert (trials.loc[trials["condition"] == "pretrained", "trainable_attention"] == 0).all()
    assert (trials["test_accuracy"].between(0, 1)).all() and trials["steps"].eq(4).all()
    paired = paired_rows(data)
    comparisons = set(paired["comparison"])
    assert {"pretrained − random", "pretrained − lstm", "pretrained − scratch-full"} <= comparisons
    assert any(c.startswith("ladder: +") for c in comparisons)
    assert paired["note"].str.startswith("lr ").any()  # the chosen lrs are named
    for spec in figures_for("frozen_transformer"):
        fig = build_figure(data, spec.name)
        assert len(fig.data) > 0, spec.name
    # the paper's values on the final bars: hollow diamonds in one legend entry (a click hides them all)
    published = [t for t in build_figure(data, "final_bars").data if t.legendgroup == "published"]
    assert len(published) == 2 and sum(bool(t.showlegend) for t in published) == 1  # bit-xor and listops
    assert published[0].marker.symbol == "diamond-open" and "Lu et al. 2021, GPT-2 base" in published[0].text[0]
    # and the paper's CIFAR-10 ladder on the ladder figure, at this run's rungs, marked as another task
    (ladder,) = [t for t in build_figure(data, "ladder").data if t.legendgroup == "published"]
    expected = ["output", "+layernorm", "+input"] + (["+positions"] if family != "llama" else [])
    assert list(ladder.x) == expected and list(ladder.y) == [0.25, 0.54, 0.60, 0.68][: len(expected)]
    assert "CIFAR-10 (another task)" in ladder.name and ladder.line.dash == "dash"
    from embedxfer.results.claims import claim_rows

    verdicts = {row["name"]: row for row in claim_rows(data)}
    assert set(verdicts) == {
        "pretrained_beats_random",
        "xor_solved",
        "random_memory_near_published",
        "pretrained_converges_faster",
        "full_training_with_a_sweep",
        "ladder_rungs_help",
    }
    assert verdicts["random_memory_near_published"]["verdict"] == "not tested"  # no bit-memory task in this run
    assert all(
        row["verdict"] != "not tested" for name, row in verdicts.items() if name != "random_memory_near_published"
    )
    pretrained = trials[trials["condition"] == "pretrained"].iloc[0]
    stored = read_attention(store.read_artifact(pretrained["trial_id"], ARTIFACT))
    maps = stored["maps"]
    assert maps.shape[1] == 2  # one map per layer of the tiny checkpoint
    assert np.allclose(maps.sum(-1), 1.0, atol=1e-4)


def test_without_positions_a_zero_input_does_not_enter_as_a_zero_vector(tiny_checkpoints):
    from embedxfer.experiments.frozen_transformer import empty_groups

    assert empty_groups("llama") and not empty_groups("bert") and not empty_groups("gpt2")
    paper = _model(tiny_checkpoints["bert"])
    assert torch.count_nonzero(paper.input_proj.bias) == 0  # the paper's zero bias where positions exist
    rotary = FPTModel(LSTMBackbone(8), 8, OutputSpec(classes=2), input_dim=1, vocab=None, bias_std=0.02)
    rotary.eval()  # no input dropout
    assert torch.count_nonzero(rotary.embed(inputs=torch.zeros(1, 3, 1)).detach()) == 3 * 8


def test_the_lstm_baseline_reads_every_position():
    lstm = LSTMBackbone(8)
    out = lstm(inputs_embeds=torch.randn(3, 7, 8)).last_hidden_state
    assert out.shape == (3, 7, 8)


def test_efficiency_ratio_pairs_seeds_and_marks_censoring():
    ratio, low, high, n, censored = efficiency_ratio({0: 400.0, 1: 800.0}, {0: 100.0, 1: 200.0}, steps=1000)
    assert ratio == pytest.approx(4.0) and low == pytest.approx(4.0) and high == pytest.approx(4.0) and n == 2
    assert censored == 0
    ratio, *_, n, censored = efficiency_ratio({0: np.nan, 1: 800.0}, {0: 100.0, 1: 200.0}, steps=1000)
    assert censored == 1 and n == 2 and ratio == pytest.approx(np.sqrt(10 * 4))  # never reached: counted as 1000
    assert efficiency_ratio({0: 10.0}, {0: np.nan}, steps=10)[3] == 0


def test_bad_input_says_what_works(tiny_checkpoints):
    llama, bert = tiny_checkpoints["llama"], tiny_checkpoints["bert"]
    with pytest.raises(ConfigError, match="has no parameters on a llama checkpoint: positions: llama encodes"):
        plan_experiment(_config(llama, trainable=["positions"]))
    with pytest.raises(ConfigError, match=r"'threshold' is 1.5, outside accuracy's range \[0, 1\]"):
        plan_experiment(_config(bert, threshold=1.5))
    with pytest.raises(ConfigError, match=r"'lrs' must hold positive learning rates, got 0"):
        plan_experiment(_config(bert, lrs=[1e-3, 0]))
    with pytest.raises(ConfigError, match="is a text task; frozen_transformer feeds vectors"):
        plan_experiment(_config(bert, task="tweets-binary"))
    with pytest.raises(ConfigError, match="unknown 'heads'; use groups"):
        plan_experiment(_config(bert, trainable=["heads"]))
    with pytest.raises(ConfigError, match="nothing to run"):
        plan_experiment(_config(bert, conditions=[]))

    class NoEmbedsPath(torch.nn.Module):
        def forward(self, input_ids, attention_mask=None):
            return input_ids

    with pytest.raises(ConfigError, match="takes no inputs_embeds, so a new input layer cannot feed it"):
        FPTModel(NoEmbedsPath(), 8, OutputSpec(classes=10), input_dim=None, vocab=16)


def test_task_options_in_the_name_shorten_bit_memory_and_the_plan_says_so(tiny_checkpoints):
    config = _config(tiny_checkpoints["bert"], task="bit-memory?n_bits=20&patch=5&n_train=32&n_val=16&n_test=16")
    plan = plan_experiment(config)
    assert any("bit-memory here has 20 bits in patches of 5 (24 tokens)" in line for line in plan.notes)


@pytest.mark.real
def test_minilm_l3_on_bit_xor_pretrained_and_random(store):
    config = {
        "kind": "frozen_transformer",
        "checkpoint": "minilm-l3",
        "task": "bit-xor",
        "conditions": ["pretrained", "random"],
        "seeds": [0],
        "steps": 60,
        "eval_every": 30,
        "batch_size": 32,
        "eval_size": 200,
    }
    result = run_plan(store, plan_experiment(config))
    trials = {t["condition"]: t for t in result["trials"]}
    pretrained = trials["pretrained"]["metrics"]
    assert pretrained["trainable_attention"] == 0 and pretrained["trainable_positions"] == 512 * 384
    assert pretrained["trainable_parameters"] == trials["random"]["metrics"]["trainable_parameters"]
    assert 0.3 < pretrained["test_accuracy"] <= 1
    maps = read_attention(store.read_artifact(trials["pretrained"]["trial_id"], ARTIFACT))["maps"]
    assert maps.shape[:2] == (4, 3) and maps.shape[-1] == 10  # 4 examples, 3 layers, 10 tokens


def test_bad_input_on_the_cli_is_one_line_and_nothing_stored(tiny_checkpoints, embedxfer_home, capsys):
    from embedxfer.cli import main

    llama = str(tiny_checkpoints["llama"])
    args = ["run", "preset:frozen_transformer-quick", "--set", f"checkpoint={llama}"]
    assert main([*args, "--set", "trainable=[positions]"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Field 'trainable' (positions) has no parameters") and "\n" not in err
    assert main([*args, "--set", "threshold=2"]) == 2
    assert "outside accuracy's range" in capsys.readouterr().err
    assert Store().list_experiments() == []


def test_from_the_home_card_to_the_run_page(app_env, tiny_checkpoints):
    from page_support import open_page, open_tab, texts, wait_finished

    bert = str(tiny_checkpoints["bert"])
    at = open_page("app_pages/new_experiment.py", kind="frozen_transformer", preset="frozen_transformer-quick")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Trials"] == "18"
    assert "lstm: a 3-layer LSTM of the same width" in texts(at)  # the plan explains the conditions
    at.selectbox(key="new-frozen_transformer-checkpoint").set_value(bert)
    at.text_input(key="new-frozen_transformer-seeds").set_value("0, 1")
    at.number_input(key="new-frozen_transformer-steps").set_value(4)
    at.number_input(key="new-frozen_transformer-eval_every").set_value(2)
    at.number_input(key="new-frozen_transformer-eval_size").set_value(16)
    at.multiselect(key="new-frozen_transformer-tasks").set_value([])
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Trials"] == "6"  # 2 seeds x 3 conditions on bit-xor
    at.button(key="new-launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(app_env)
    experiment_id = store.list_experiments()[0]["experiment_id"]
    assert wait_finished(store, experiment_id) == "completed", store.events(experiment_id)
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "runs-board-learning_curves" in {b.key for b in at.button}
    open_tab(at, "runs-table-tabs", "Paired comparisons (per seed, 95% interval)")
    paired = at.dataframe[-1].value
    assert {"pretrained − random", "pretrained − lstm"} <= set(paired["comparison"])
    board = open_page("app_pages/board.py", board=f"{experiment_id}:learning_curves,{experiment_id}:attention")
    assert not board.exception and not board.error and len(board.get("plotly_chart")) == 2
