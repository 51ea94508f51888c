"""embedding_transfer on tiny checkpoints: every condition and target end to end with its figures and paired
comparisons; the baselines' defining properties (shuffled = same rows, random-matched = same statistics, rotated =
orthogonal and distance-preserving); pca:k; a frozen table stays bit-identical; the shared-vocabulary mapping counts;
padding never changes a target's output; bad input; one real run on a bundled checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from page_support import run_plan

from embedxfer.errors import CheckpointError, ConfigError
from embedxfer.experiments import plan_experiment, plan_notes
from embedxfer.experiments.embedding_transfer.tables import (
    baseline_table,
    map_rows,
    pca_rows,
    random_rotation,
    source_table,
    unit_rms,
)
from embedxfer.heads import OutputSpec
from embedxfer.results import build_figure, figures_for, load_experiment_data
from embedxfer.store import Store
from embedxfer.targets import parse_target
from embedxfer.targets.models import build_scorer, scorer_parameters

SMALL = {"task": "tweets-binary", "train_size": 48, "eval_size": 24, "epochs": 1, "batch_size": 16, "max_length": 16}


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    return Store(tmp_path / "home")


def _config(sources, **extra):
    return {"kind": "embedding_transfer", "sources": [str(s) for s in sources], **SMALL, **extra}


def test_every_condition_and_target_runs_with_figures_and_paired_comparisons(store, tiny_checkpoints):
    bert, llama = str(tiny_checkpoints["bert"]), str(tiny_checkpoints["llama"])
    config = _config(
        [bert, llama],
        targets=["bag", "transformer heads=2", "lstm hidden=8", "cnn channels=4"],
        seeds=[0, 1],
        ood_tasks=["word-valence-binary"],
        eval_every=2,
        threshold=0.0,
    )
    plan = plan_experiment(config)
    expected = {f"source:{bert}", f"source:{llama}"} | {
        f"{b}@{s}" for b in ("random-matched", "shuffled", "rotated", "scratch") for s in (bert, llama)
    }
    assert set(plan.conditions) == expected
    assert len(plan.trials) == 2 * 4 * 2 * 5  # seeds x targets x sources x conditions
    result = run_plan(store, plan)
    data = load_experiment_data(store, result["experiment_id"])
    trials = data.completed()
    assert set(trials["target"]) == {"bag", "transformer heads=2", "lstm hidden=8", "cnn channels=4"}
    scores = ("test_accuracy", "test_macro_f1", "fit_accuracy", "val_accuracy", "ood_word-valence-binary_accuracy")
    for column in scores:
        assert trials[column].between(0, 1).all(), column
    assert (trials["steps_to_threshold"] == 2).all()  # threshold 0: reached at the first evaluation
    assert (trials["embedding_width"] == 32).all()
    scratch = trials["condition"].str.startswith("scratch@")
    assert (trials.loc[scratch, "embedding_trainable"] == 1).all()
    assert (trials.loc[~scratch, "embedding_trainable"] == 0).all()
    # the learning curves are logged per evaluation, on validation and on the training examples
    assert {"val_accuracy", "fit_accuracy"} <= set(data.steps["name"])
    paired = plan.kind.paired(data)
    assert len(paired) == 2 * 4 * 4  # sources x targets x baselines
    assert (paired["n"] == 2).all()
    names = [spec.name for spec in figures_for("embedding_transfer")]
    assert names == ["transfer_matrix", "condition_bars", "paired_gains", "learning_curves", "fit_vs_generalize"]
    for name in names:
        fig = build_figure(data, name)
        assert fig.data, name
    heatmap = build_figure(data, "transfer_matrix").data[0]
    assert list(heatmap.y) == [bert, llama] and len(heatmap.x) == 4
    assert "[" in heatmap.text[0][0]  # each cell is annotated with its interval
    notes = plan_notes(result["config"])
    assert any(line.startswith("rotated:") and "null control" in line for line in notes)


def test_shuffled_keeps_the_rows_and_random_matched_keeps_the_statistics():
    rng = np.random.default_rng(0)
    matrix = (rng.normal(0.3, 2.0, size=(4000, 12)) * np.linspace(0.1, 3, 12)).astype(np.float32)
    shuffled = baseline_table("shuffled", matrix, seed=1)
    assert not np.array_equal(shuffled, matrix)
    assert np.array_equal(np.sort(shuffled, axis=0), np.sort(matrix, axis=0))  # the same multiset of rows...
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, matrix))
    matched = baseline_table("random-matched", matrix, seed=1)
    standard_error = matrix.std(0) / np.sqrt(len(matrix))
    assert (np.abs(matched.mean(0) - matrix.mean(0)) < 4 * standard_error).all()
    np.testing.assert_allclose(matched.std(0), matrix.std(0), rtol=0.05)
    assert np.array_equal(baseline_table("random-matched", matrix, seed=1), matched)  # seeded
    assert not np.array_equal(baseline_table("random-matched", matrix, seed=2), matched)


def test_rotated_is_orthogonal_and_keeps_distances():
    rng = np.random.default_rng(0)
    rotation = random_rotation(16, rng)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(16), atol=1e-10)
    matrix = rng.normal(size=(50, 16)).astype(np.float32)
    rotated = baseline_table("rotated", matrix, seed=3)
    assert not np.allclose(rotated, matrix)

    def distances(x):
        return np.linalg.norm(x[:, None] - x[None], axis=-1)

    np.testing.assert_allclose(distances(rotated), distances(matrix), atol=1e-4)
    np.testing.assert_allclose(np.sqrt((rotated**2).mean()), np.sqrt((matrix**2).mean()), rtol=1e-5)
    scaled = unit_rms(matrix * 7)
    np.testing.assert_allclose(np.sqrt((scaled**2).mean()), 1.0, rtol=1e-5)


def test_pca_gives_width_k_and_rejects_k_above_the_width(tiny_checkpoints):
    bert = str(tiny_checkpoints["bert"])
    table = source_table(bert, pca_width=8, shared=None, seed=0)
    assert table.matrix.shape == (30, 8) and table.native_width == 32
    reduced = pca_rows(np.random.default_rng(0).normal(size=(100, 10)), 3)
    variances = reduced.var(axis=0)
    assert list(variances) == sorted(variances, reverse=True)  # principal directions, largest first
    with pytest.raises(ConfigError, match=r"pca:64, wider than .*32-wide embedding; use k up to 32"):
        plan_experiment(_config([bert], dim="pca:64"))


def test_a_frozen_table_is_bit_identical_after_training_and_a_trainable_one_moves():
    from embedxfer.data import EncodedSplit
    from embedxfer.engine import TrainSettings, train_model

    rng = np.random.default_rng(0)
    table = rng.normal(size=(20, 8)).astype(np.float32)
    ids = [rng.integers(1, 20, size=int(n)) for n in rng.integers(2, 9, size=64)]
    split = EncodedSplit(ids=ids, vectors=None, labels=rng.integers(0, 2, size=64), pad_id=0)
    settings = TrainSettings(epochs=2, lr=1e-2, batch_size=16, seed=0)
    for trainable in (False, True):
        torch.manual_seed(0)
        spec = parse_target("bag hidden=8")
        model = build_scorer(spec, table, OutputSpec(classes=2), max_length=8, trainable=trainable)
        before = [p.detach().clone() for p in model.body.parameters()]
        train_model(model, split, classes=2, metric="accuracy", settings=settings)
        after = model.embed.weight.detach().numpy()
        assert np.array_equal(after, table) is (not trainable)
        assert any(not torch.equal(b, p) for b, p in zip(before, model.body.parameters(), strict=True))


def test_shared_vocabulary_mapping_counts_on_a_hand_made_pair():
    source = np.arange(12, dtype=np.float32).reshape(4, 3)
    source_surfaces = [" good", " bad", "ing", "[CLS]"]
    source_kinds = ["word start", "word start", "continuation", "special"]
    shared_surfaces = ["<s>", " bad", " good", " movie", "ing", "!"]
    shared_kinds = ["special", "word start", "word start", "word start", "continuation", "punctuation"]
    out, mapped = map_rows(
        source, source_surfaces, source_kinds, shared_surfaces, shared_kinds, np.random.default_rng(0)
    )
    assert mapped == 3  # " bad", " good", "ing"; specials never pair, " movie" and "!" are not in the source
    assert out.shape == (6, 3)
    assert np.array_equal(out[1], source[1]) and np.array_equal(out[2], source[0]) and np.array_equal(out[4], source[2])


def test_shared_vocabulary_through_another_checkpoints_tokenizer(store, tiny_checkpoints):
    bert, llama = str(tiny_checkpoints["bert"]), str(tiny_checkpoints["llama"])
    table = source_table(llama, pca_width=None, shared=bert, seed=0)
    assert table.matrix.shape[0] == 30  # the bert tokenizer's rows
    assert table.mapped + table.unmapped == 30 and 0 < table.mapped < 25
    result = run_plan(
        store, plan_experiment(_config([bert, llama], targets=["bag"], baselines=[], vocab=f"shared:{bert}", seeds=[0]))
    )
    trials = {t["condition"]: t["metrics"] for t in result["trials"]}
    assert trials[f"source:{bert}"]["vocab_unmapped"] == 0
    assert trials[f"source:{llama}"]["vocab_mapped"] == table.mapped
    assert any("vocab shared:" in line for line in plan_notes(result["config"]))


@pytest.mark.parametrize("target", ["bag", "transformer heads=2", "lstm hidden=6", "lstm bidirectional=false", "cnn"])
def test_padding_never_changes_a_targets_output(target):
    torch.manual_seed(0)
    table = torch.randn(20, 16)
    spec = parse_target(target)
    model = build_scorer(spec, table, OutputSpec(classes=3), max_length=12, trainable=False).eval()
    ids = torch.tensor([[5, 6, 7]])
    alone = model(ids, torch.ones_like(ids))
    padded = torch.tensor([[5, 6, 7, 0, 0, 0, 0], [1, 2, 3, 4, 5, 6, 7]])
    mask = torch.tensor([[1, 1, 1, 0, 0, 0, 0], [1] * 7])
    torch.testing.assert_close(model(padded, mask)[0], alone[0], atol=1e-5, rtol=1e-4)
    counted = scorer_parameters(spec, 16, OutputSpec(classes=3), 12)
    assert counted == sum(p.numel() for n, p in model.named_parameters() if not n.startswith("embed."))


def test_bad_input_says_what_works(tiny_checkpoints, monkeypatch):
    bert = str(tiny_checkpoints["bert"])
    with pytest.raises(ConfigError, match=r"5 heads do not divide .*width 32; heads that work at width 32: 1, 2, 4, 8"):
        plan_experiment(_config([bert], targets=["transformer heads=5"]))
    with pytest.raises(ConfigError, match="Unknown target 'mlp'; targets: transformer, lstm, cnn, bag"):
        plan_experiment(_config([bert], targets=["mlp"]))
    with pytest.raises(ConfigError, match="'depth=2' is not an option of bag; its options: hidden"):
        plan_experiment(_config([bert], targets=["bag depth=2"]))
    with pytest.raises(ConfigError, match="must be a whole number"):
        plan_experiment(_config([bert], targets=["cnn channels=many"]))
    with pytest.raises(ConfigError, match=r"'tweets-sentiment' labels negative/neutral/positive, but 'tweets-binary'"):
        plan_experiment(_config([bert], ood_tasks=["tweets-sentiment"]))
    with pytest.raises(ConfigError, match="needs a text task"):
        plan_experiment(_config([bert], task="bit-xor"))
    with pytest.raises(ConfigError, match="dim' must be native or pca:<k>"):
        plan_experiment(_config([bert], dim="pca"))
    with pytest.raises(ConfigError, match="vocab' must be native or shared:<checkpoint>"):
        plan_experiment(_config([bert], vocab="mine"))

    # a checkpoint whose model has no token-embedding table
    from embedxfer.analysis import vocab
    from embedxfer.checkpoints import LoadedCheckpoint, load_checkpoint

    loaded = load_checkpoint(bert)

    class NoEmbeddings:
        def get_input_embeddings(self):
            raise NotImplementedError

    fake = LoadedCheckpoint(NoEmbeddings(), loaded.tokenizer, loaded.info)
    monkeypatch.setattr("embedxfer.checkpoints.load_checkpoint", lambda _: fake)
    with pytest.raises(CheckpointError, match="has no token-embedding table"):
        vocab._read_table(bert, "fingerprint")


def test_width_mismatch_is_said_in_the_plan(tiny_checkpoints, tmp_path):
    from conftest import make_tiny_checkpoint

    bert = str(tiny_checkpoints["bert"])
    narrow = str(make_tiny_checkpoint(tmp_path / "narrow", "bert", hidden=16))
    plan = plan_experiment(_config([bert, narrow], targets=["bag"]))
    assert "not comparable across sources" in plan.notes[0] and "pca:16" in plan.notes[0]
    assert not any("not comparable" in line for line in plan_experiment(_config([bert, narrow], dim="pca:16")).notes)


@pytest.mark.real
def test_a_bundled_table_into_a_bag_scorer(store):
    config = {
        "kind": "embedding_transfer",
        "sources": ["minilm-l3"],
        "targets": ["bag"],
        "baselines": ["random-matched", "rotated"],
        "task": "tweets-binary",
        "train_size": 400,
        "eval_size": 200,
        "epochs": 2,
        "seeds": [0],
        "ood_tasks": ["word-valence-binary"],
    }
    result = run_plan(store, plan_experiment(config))
    trials = {t["condition"]: t["metrics"] for t in result["trials"]}
    assert set(trials) == {"source:minilm-l3", "random-matched", "rotated"}
    source = trials["source:minilm-l3"]
    assert source["vocab_rows"] == 30522 and source["embedding_width"] == 384
    assert 0.5 < source["test_accuracy"] <= 1 and 0 < source["ood_word-valence-binary_accuracy"] <= 1


def test_from_the_home_card_to_the_run_page(app_env, tiny_checkpoints):
    from page_support import open_page, open_tab, texts, wait_finished

    bert = str(tiny_checkpoints["bert"])
    at = open_page("app_pages/new_experiment.py", kind="embedding_transfer", preset="embedding_transfer-quick")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.multiselect(key="new-embedding_transfer-targets").value == ["bag", "transformer ffn=1"]
    assert {m.label: m.value for m in at.metric}["Trials"] == "60"
    assert "rotated: the source times a random orthogonal matrix" in texts(at)  # the plan explains the baselines
    at.multiselect(key="new-embedding_transfer-sources").set_value([bert])
    at.multiselect(key="new-embedding_transfer-targets").set_value(["bag", "cnn channels=4"])
    at.multiselect(key="new-embedding_transfer-ood_tasks").set_value([])
    at.text_input(key="new-embedding_transfer-seeds").set_value("0, 1")
    at.number_input(key="new-embedding_transfer-train_size").set_value(32)
    at.number_input(key="new-embedding_transfer-eval_size").set_value(16)
    at.number_input(key="new-embedding_transfer-max_length").set_value(16)
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert {m.label: m.value for m in at.metric}["Trials"] == "20"  # 2 seeds x 2 targets x 5 conditions
    at.button(key="new-launch").click().run()
    assert not at.exception, [e.value for e in at.exception]
    store = Store(app_env)
    experiment_id = store.list_experiments()[0]["experiment_id"]
    assert wait_finished(store, experiment_id) == "completed", store.events(experiment_id)
    at.switch_page("app_pages/runs.py").run()
    assert not at.exception and not at.error, [e.value for e in at.exception] + [e.value for e in at.error]
    assert "How to read these conditions" in [e.label for e in at.expander]
    assert "runs-board-transfer_matrix" in {b.key for b in at.button}  # the first figure: the transfer matrix
    assert at.tabs[0].label == "Claims"  # the first table: the paper's claims on this run's data
    claims = at.dataframe[0].value
    assert {"A random orthogonal rotation of the table changes nothing (a null control)."} <= set(claims["claim"])
    assert set(claims["verdict"]) <= {"supported", "contradicted", "inconclusive", "not tested"}
    open_tab(at, "runs-table-tabs", "Paired comparisons (per seed, 95% interval)")
    paired = at.dataframe[-1].value
    assert set(paired["baseline"]) == {"random-matched", "shuffled", "rotated", "scratch"} and (paired["n"] == 2).all()
    board = open_page("app_pages/board.py", board=f"{experiment_id}:transfer_matrix,{experiment_id}:learning_curves")
    assert not board.exception and not board.error and len(board.get("plotly_chart")) == 2


def test_bad_input_on_the_cli_is_one_line_and_nothing_stored(tiny_checkpoints, embedxfer_home, capsys):
    from embedxfer.cli import main

    bert = str(tiny_checkpoints["bert"])
    args = ["run", "preset:embedding_transfer-quick", "--set", f"sources=[{bert}]"]
    assert main([*args, "--set", "targets=[transformer heads=3]"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Target 'transformer heads=3': 3 heads do not divide") and "\n" not in err
    assert main([*args, "--set", "ood_tasks=[digits]"]) == 2
    assert "an out-of-distribution task must be a text task with the same labels" in capsys.readouterr().err
    assert Store().list_experiments() == []
