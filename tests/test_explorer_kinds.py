"""The explorer kinds end to end on tiny checkpoints: embedding_map (one and two checkpoints, the projection cache
said by the trial), embedding_similarity (a matrix figure for three), layer_map (features from the probing cache),
their figures and bad input; the Explorer page opening a computed map; one real pair of bundled checkpoints."""

from __future__ import annotations

import pytest
from page_support import open_page, open_tab, run_plan, texts

from embedxfer.errors import ConfigError
from embedxfer.experiments import plan_experiment
from embedxfer.results import build_figure, load_experiment_data
from embedxfer.store import Store


@pytest.fixture()
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    return Store(tmp_path / "home")


def _run(store, config, fresh: bool = False):
    result = run_plan(store, plan_experiment(config), fresh=fresh)
    return result, load_experiment_data(store, result["experiment_id"])


def test_embedding_map_of_a_pair_aligns_rows_and_reuses_the_projection(store, tiny_checkpoints):
    bert, llama = str(tiny_checkpoints["bert"]), str(tiny_checkpoints["llama"])
    config = {"kind": "embedding_map", "checkpoints": [bert, llama], "method": "pca"}
    _, data = _run(store, config)
    trials = data.completed().set_index("condition")
    assert set(trials.index) == {bert, llama}
    shared = trials.loc[bert, "shared_tokens"]
    assert shared == trials.loc[llama, "shared_tokens"] == trials.loc[bert, "rows"] > 5
    assert trials.loc[bert, "only_this"] == trials.loc[llama, "only_other"]
    assert (trials["projection_cached"] == 0).all()
    pair = build_figure(data, "token_map_pair")
    assert len({trace.xaxis for trace in pair.data}) == 2  # two panels
    # the same request again, run afresh (not reused): both maps are read from the projection cache, and the
    # trials say so
    _, again = _run(store, config, fresh=True)
    assert (again.completed()["projection_cached"] == 1).all()
    from embedxfer.experiments.embedding_map import read_maps

    (_, first), (_, second) = read_maps(again)
    # row i is one token in both maps (punctuation pairs whatever its spacing)
    assert [s.strip() for s in first["surface"]] == [s.strip() for s in second["surface"]]


def test_embedding_map_rows_and_bad_input(store, tiny_checkpoints):
    bert = str(tiny_checkpoints["bert"])
    with pytest.raises(ConfigError, match=r"asks for 5,000 rows, but .*vocabulary has 30"):
        plan_experiment({"kind": "embedding_map", "checkpoints": [bert], "rows": 5000})
    with pytest.raises(ConfigError, match="perplexity 40 is too large for 30 rows"):
        plan_experiment({"kind": "embedding_map", "checkpoints": [bert], "method": "tsne", "perplexity": 40})
    with pytest.raises(ConfigError, match="one or two checkpoints"):
        plan_experiment({"kind": "embedding_map", "checkpoints": [bert, "minilm-l6", "minilm-l3"]})
    _, data = _run(store, {"kind": "embedding_map", "checkpoints": [bert], "rows": 12, "method": "pca"})
    assert data.completed()["rows"].tolist() == [12]
    assert len(build_figure(data, "token_map").data) >= 1


def test_similarity_of_three_checkpoints_gives_a_matrix(store, tiny_checkpoints):
    names = [str(tiny_checkpoints[f]) for f in ("bert", "llama", "gpt2")]
    result, data = _run(store, {"kind": "embedding_similarity", "checkpoints": names, "k": 3})
    assert [t["condition"] for t in result["trials"]] == [
        f"{names[0]} vs {names[1]}",
        f"{names[0]} vs {names[2]}",
        f"{names[1]} vs {names[2]}",
    ]
    llama_gpt2 = data.completed().iloc[2]
    assert llama_gpt2["shared_tokens"] > 50  # same byte-BPE tokenizer: every non-special row
    fig = build_figure(data, "similarity")
    assert [trace.type for trace in fig.data] == ["heatmap"] * 3
    summary = {(s["condition"], s["metric"]) for s in result["summary"]}
    assert (f"{names[0]} vs {names[1]}", "cka_shuffled") in summary


def test_layer_map_reads_the_probing_feature_cache(store, tiny_checkpoints):
    bert = str(tiny_checkpoints["bert"])
    config = {"kind": "layer_map", "checkpoint": bert, "task": "tweets-binary", "examples": 40, "method": "pca"}
    _, data = _run(store, config)
    trials = data.completed().sort_values("layer")
    assert trials["layer"].tolist() == [0, 1, 2]
    # one forward pass for all three layers: only the first trial computed features, the others read them
    assert trials["features_computed"].tolist() == [40, 0, 0]
    assert trials["features_cached"].tolist() == [0, 40, 40]
    assert trials["label_agreement"].between(0, 1).all()
    fig = build_figure(data, "layer_map")
    assert len(fig.layout.sliders[0].steps) == 3
    # a probing run on the same task afterwards encodes nothing either
    probing = run_plan(
        store,
        plan_experiment(
            {
                "kind": "probing",
                "checkpoints": [bert],
                "task": "tweets-binary",
                "seeds": [0],
                "train_size": 20,
                "eval_size": 40,
                "control": "none",
                "max_length": 128,
            }
        ),
    )
    test_rows = [t["metrics"]["features_computed"] for t in probing["trials"]]
    assert test_rows[0] == 20  # only the train rows were new; the 40 test rows came from the layer map


def test_layer_map_bad_input(store, tiny_checkpoints):
    bert = str(tiny_checkpoints["bert"])
    with pytest.raises(ConfigError, match=r"has layers 0..2"):
        plan_experiment({"kind": "layer_map", "checkpoint": bert, "layers": [5]})
    with pytest.raises(ConfigError, match="text task"):
        plan_experiment({"kind": "layer_map", "checkpoint": bert, "task": "bit-xor"})


def test_explorer_page_opens_a_computed_map_and_searches(app_env, tiny_checkpoints, tmp_path, monkeypatch):
    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    bert = str(tiny_checkpoints["bert"])
    store = Store(app_env)
    at = open_page("app_pages/explore.py")
    assert "not computed yet" in texts(at)
    # a computed map (the request the form makes) opens at once, without queueing anything
    config = {
        "kind": "embedding_map",
        "checkpoints": [bert],
        "rows": "all",
        "method": "umap",
        "n_neighbors": 15,
        "min_dist": 0.1,
        "metric": "euclidean",
        "perplexity": 30.0,
        "seeds": [0],
    }
    result = run_plan(store, plan_experiment(config))
    at.session_state["explore-map-request"] = config
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert result["experiment_id"] in texts(at)
    assert len(store.list_experiments(kind="embedding_map")) == 1
    charts = at.get("plotly_chart")
    assert charts, "the map is drawn"
    at.text_input(key="explore-search").set_value("good").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "nearest to `good`" in texts(at)
    at.text_input(key="explore-search").set_value("goood").run()
    assert "Close matches: good" in "\n".join(w.value for w in at.warning)
    at.radio(key="explore-colour").set_value("VADER valence").run()
    assert not at.exception, [e.value for e in at.exception]
    open_tab(at, "explore-tabs", "Similarity")
    assert "not computed yet" in texts(at)


@pytest.mark.real
def test_real_minilm_pair_similarity(store):
    result, data = _run(store, {"kind": "embedding_similarity", "checkpoints": ["minilm-l6", "minilm-l3"], "k": 10})
    row = data.completed().iloc[0]
    assert row["shared_tokens"] > 29000
    assert row["cka"] > row["cka_shuffled"] + 0.1
    assert row["knn_overlap"] > 10 * row["knn_overlap_shuffled"]
    assert row["procrustes_residual"] < row["procrustes_residual_shuffled"]
