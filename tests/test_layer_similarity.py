"""layer_similarity: the measures' properties on synthetic features, the kind end to end on tiny checkpoints of two
families (different tokenizers and widths), and its refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from page_support import run_plan

from embedxfer.errors import ConfigError
from embedxfer.experiments import plan_experiment
from embedxfer.experiments.layer_similarity.measures import cka_grid, measure_grid, procrustes_grid

ROWS = 400


def _stack(*layers: torch.Tensor) -> torch.Tensor:
    return torch.stack(layers).double()


@pytest.fixture()
def features() -> torch.Tensor:
    return torch.randn(ROWS, 24, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def test_cka_of_a_layer_with_itself_is_one(features):
    assert cka_grid(_stack(features), _stack(features)).item() == pytest.approx(1.0, abs=1e-12)


def test_cka_ignores_an_orthogonal_transform_and_an_isotropic_scale_of_one_side(features):
    rotation, _ = torch.linalg.qr(torch.randn(24, 24, generator=torch.Generator().manual_seed(1), dtype=torch.float64))
    mixed = features @ torch.randn(24, 24, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    base = cka_grid(_stack(features), _stack(mixed)).item()
    assert cka_grid(_stack(features @ rotation * 7.5), _stack(mixed)).item() == pytest.approx(base, abs=1e-10)
    assert base < 0.99  # a general linear map is not an orthogonal one: the invariance above is not vacuous


def test_debiased_cka_of_independent_features_is_near_zero(features):
    other = torch.randn(ROWS, 32, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    assert abs(cka_grid(_stack(features), _stack(other)).item()) < 0.05


def test_mutual_knn_of_features_with_themselves_is_one_and_procrustes_distance_zero(features):
    grid = measure_grid("mutual_knn", _stack(features), _stack(features), k=5, permutations=0, bootstraps=0)
    assert grid.observed.item() == pytest.approx(1.0)
    assert procrustes_grid(_stack(features), _stack(features)).item() == pytest.approx(0.0, abs=1e-6)


#: how far each measure's observed value is at least from its null here (neighbourhoods of isotropic 24-d noise
#: change a lot under a 24 -> 16 map, so mutual kNN agrees less; its null is about k / rows = 0.01)
MARGIN = {"cka": 0.3, "mutual_knn": 0.15, "procrustes": 0.3}


@pytest.mark.parametrize("measure", ["cka", "mutual_knn", "procrustes"])
def test_the_permutation_null_is_far_from_a_linear_map_of_the_features(features, measure):
    mapped = features @ torch.randn(24, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    grid = measure_grid(measure, _stack(features), _stack(mapped), k=5, permutations=9, bootstraps=20, seed=0)
    observed, null = grid.observed.item(), grid.null_mean.item()
    assert abs(observed - null) > MARGIN[measure], (observed, null)
    assert grid.null_p.item() == pytest.approx(0.1)  # no permutation came near: the smallest p 9 draws can give
    assert grid.ci_low.item() <= observed + 1e-9 and observed - 1e-9 <= grid.ci_high.item()


def test_a_bootstrap_resample_does_not_inflate_debiased_cka(features):
    other = torch.randn(ROWS, 32, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    grid = measure_grid("cka", _stack(features), _stack(other), permutations=0, bootstraps=40, seed=0)
    assert grid.ci_low.item() < 0 < grid.ci_high.item()  # duplicated rows are not counted as shared structure


def _config(a: str, b: str, **extra) -> dict:
    return {
        "kind": "layer_similarity",
        "checkpoints": [a, b],
        "rows": 60,
        "max_length": 16,
        "permutations": 4,
        "bootstraps": 5,
        **extra,
    }


def test_bert_against_llama_runs_end_to_end_with_figures(tiny_checkpoints, embedxfer_home):
    from embedxfer.experiments.layer_similarity import best_matches, read_grids
    from embedxfer.experiments.layer_similarity.pairs import best_pairs
    from embedxfer.experiments.registry import get_kind
    from embedxfer.results.data import load_experiment_data
    from embedxfer.store import Store

    bert, llama = str(tiny_checkpoints["bert"]), str(tiny_checkpoints["llama"])
    store = Store()
    result = run_plan(store, plan_experiment(_config(bert, llama)))
    assert {t["status"] for t in result["trials"]} == {"completed"}
    assert {t["condition"] for t in result["trials"]} == {"cka", "mutual_knn", "procrustes"}
    data = load_experiment_data(store, result["experiment_id"])
    grids = read_grids(data)
    layers = (3, 3)  # 2 blocks each: hidden states 0..2
    for grid in grids.values():
        assert grid.observed.shape == layers and np.isfinite(grid.ci_low).all() and np.isfinite(grid.null_p).all()
    for spec in get_kind("layer_similarity").figures:
        assert spec.build(data).data, spec.name
    assert best_pairs(result["experiment_id"], bert, llama) == list(enumerate(best_matches(grids["cka"])))
    with pytest.raises(ConfigError, match="not .* with .*; run layer_similarity on these checkpoints first"):
        best_pairs(result["experiment_id"], llama, bert)
    trial = result["trials"][0]
    assert {"depth_matched_mean", "best_match_depth_gap", "cells_beyond_every_null"} <= set(trial["metrics"])


def test_a_checkpoint_against_its_random_twin_and_itself(tiny_checkpoints, embedxfer_home):
    from embedxfer.results.data import load_experiment_data
    from embedxfer.store import Store

    bert = str(tiny_checkpoints["bert"])
    store = Store()
    itself = run_plan(store, plan_experiment(_config(bert, bert, measures=["cka"]) | {"checkpoints": [bert]}))
    grid = json.loads(Store().read_artifact(itself["trials"][0]["trial_id"], "grid.json"))
    assert np.allclose(np.diag(grid["observed"]), 1.0)
    twin = run_plan(store, plan_experiment(_config(bert, f"random:{bert}", measures=["cka"])))
    assert load_experiment_data(store, twin["experiment_id"]).completed().shape[0] == 1


def test_bad_input_is_one_sentence(tiny_checkpoints, embedxfer_home):
    bert = str(tiny_checkpoints["bert"])
    with pytest.raises(ConfigError, match=r"Field 'rows' is 999999, but task 'tweets-binary' has \d+ examples"):
        plan_experiment(_config(bert, bert, rows=999999))
    with pytest.raises(ConfigError, match=r"takes \[A, B\] or \[A\]"):
        plan_experiment({"kind": "layer_similarity", "checkpoints": [bert, bert, bert]})
    with pytest.raises(ConfigError, match="must list some of cka, mutual_knn, procrustes"):
        plan_experiment(_config(bert, bert, measures=["svcca"]))
    with pytest.raises(ConfigError, match="has vectors inputs"):
        plan_experiment(_config(bert, bert, task="digits"))


def test_the_config_repeats_the_libraries_names():
    from embedxfer.experiments.layer_similarity import config, measures
    from embedxfer.features import FEATURE_POOLINGS

    assert config.MEASURES == measures.MEASURES and config.POOLINGS == FEATURE_POOLINGS


@pytest.mark.real
def test_real_minilm_l6_against_minilm_l3(embedxfer_home):
    from embedxfer.experiments.layer_similarity import read_grids
    from embedxfer.results.data import load_experiment_data
    from embedxfer.store import Store

    config = {"kind": "layer_similarity", "checkpoints": ["minilm-l6", "minilm-l3"], "rows": 300, "max_length": 32}
    config |= {"measures": ["cka"], "permutations": 5, "bootstraps": 10}
    store = Store()
    result = run_plan(store, plan_experiment(config))
    grid = read_grids(load_experiment_data(store, result["experiment_id"]))["cka"]
    assert grid.observed.shape == (7, 4)
    # the two share a vocabulary and their embedding outputs are nearly the same; no cell is near its null
    assert grid.observed[0, 0] > 0.9 and np.abs(grid.null_mean).max() < 0.05
    assert (grid.observed - grid.null_mean).min() > 0.3
