"""`random:<checkpoint>`: a checkpoint's architecture with freshly drawn weights, usable wherever a checkpoint id is
(the untrained reference of every kind that reads representations)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from embedxfer import checkpoints as ck
from embedxfer.errors import CheckpointError


def test_a_random_twin_has_its_checkpoints_architecture_and_its_own_identity(tiny_checkpoints):
    base = str(tiny_checkpoints["bert"])
    twin = f"random:{base}"
    info, base_info = ck.arch_info(twin), ck.arch_info(base)
    assert info.id == twin and "randomly initialised (seed 0)" in info.source
    assert (info.num_layers, info.hidden_size, info.vocab_size) == (
        base_info.num_layers,
        base_info.hidden_size,
        base_info.vocab_size,
    )
    assert ck.checkpoint_fingerprint(twin) not in (ck.checkpoint_fingerprint(base), "")
    assert ck.checkpoint_fingerprint(twin) == ck.checkpoint_fingerprint(twin)


def test_its_weights_are_drawn_the_same_way_every_time_and_leave_the_global_rng_alone(tmp_path):
    from families import make_family_checkpoint

    from embedxfer.checkpoints.loading import clear_loaded

    base = str(make_family_checkpoint(tmp_path / "llama", "llama", seed=7))  # trained stand-in: not the seed-0 draw
    twin = f"random:{base}"
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = {k: v.clone() for k, v in ck.load_checkpoint(twin).model.state_dict().items()}
    assert torch.equal(torch.rand(1), expected_next)  # the draw used its own seed
    clear_loaded()
    again = ck.load_checkpoint(twin).model.state_dict()
    assert all(torch.equal(first[k], again[k]) for k in first)
    trained = ck.load_checkpoint(base).model.state_dict()
    assert not torch.equal(first["embed_tokens.weight"], trained["embed_tokens.weight"])


def test_its_features_are_cached_apart_from_the_trained_checkpoints(tmp_path, monkeypatch):
    from families import make_family_checkpoint

    from embedxfer.features import layer_features
    from embedxfer.tasks import load_task

    monkeypatch.setenv("EMBEDXFER_CACHE", str(tmp_path / "cache"))
    task, rows = load_task("tweets-binary"), np.arange(5)
    base = str(make_family_checkpoint(tmp_path / "bert", "bert", seed=7))
    trained = layer_features(base, task, "train", rows, max_length=16).features
    random = layer_features(f"random:{base}", task, "train", rows, max_length=16)
    assert random.computed == 5 and random.features.shape == trained.shape
    assert not np.allclose(random.features, trained)


def test_bad_random_ids_are_one_sentence(tiny_checkpoints):
    with pytest.raises(CheckpointError, match="random twin of a random twin"):
        ck.arch_info(f"random:random:{tiny_checkpoints['bert']}")
    with pytest.raises(CheckpointError, match="known ids"):
        ck.arch_info("random:not-a-checkpoint")
