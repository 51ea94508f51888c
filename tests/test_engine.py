"""The training loop and batching on tiny models: determinism, learning, divergence, cancel."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from transformers import AutoModel, AutoTokenizer

from embedxfer.data import EncodedSplit, batch_order, collate, encode_texts
from embedxfer.engine import TrainSettings, evaluate, total_steps, train_model
from embedxfer.errors import ConfigError
from embedxfer.heads import OutputSpec, SequenceModel
from embedxfer.trials import TrialCancelled, TrialContext, TrialDiverged


def _toy_texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Sentences whose label is whether they contain 'good' (easy to learn)."""
    rng = np.random.default_rng(seed)
    fillers = ["the", "movie", "is", "very", "this", "was", "a", "day", "it"]
    texts, labels = [], []
    for _ in range(n):
        words = list(rng.choice(fillers, size=rng.integers(2, 9)))
        label = int(rng.integers(0, 2))
        words.insert(int(rng.integers(0, len(words) + 1)), "good" if label else "bad")
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.asarray(labels)


@pytest.fixture()
def tiny_bert(tiny_checkpoints):
    folder = tiny_checkpoints["bert"]
    return AutoModel.from_pretrained(folder), AutoTokenizer.from_pretrained(folder)


def _classifier(backbone, seed: int = 0) -> SequenceModel:
    torch.manual_seed(seed)
    return SequenceModel(copy.deepcopy(backbone), backbone.config.hidden_size, OutputSpec(classes=2))


def test_batch_order_covers_every_example_once_and_buckets_lengths():
    lengths = np.random.default_rng(0).integers(1, 100, size=1000)
    batches = batch_order(lengths, 16, shuffle=True, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([np.ptp(lengths[np.random.default_rng(i).choice(1000, 16)]) for i in range(50)])
    assert spread < random_spread / 4  # bucketing keeps lengths within a batch close
    assert [b.tolist() for b in batches] == [b.tolist() for b in batch_order(lengths, 16, shuffle=True, seed=3)]


def test_collate_pads_dynamically_to_the_longest_in_batch():
    split = EncodedSplit(ids=[np.array([5, 6, 7]), np.array([8])], vectors=None, labels=np.array([1, 0]), pad_id=0)
    batch = collate(split, np.array([0, 1]))
    assert batch["input_ids"].tolist() == [[5, 6, 7], [8, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 0, 0]]
    assert batch["labels"].tolist() == [1, 0]


def test_training_is_deterministic_and_learns(tiny_bert):
    backbone, tokenizer = tiny_bert
    texts, labels = _toy_texts(256, seed=0)
    train = encode_texts(tokenizer, texts, labels, max_length=16)
    val = encode_texts(tokenizer, *_toy_texts(128, seed=1), max_length=16)
    settings = TrainSettings(epochs=4, lr=3e-3, batch_size=16, seed=7, eval_every=20)

    def run():
        model = _classifier(backbone)
        result = train_model(model, train, classes=2, metric="accuracy", settings=settings, evals={"val": val})
        return result, model

    first, model = run()
    second, _ = run()
    assert first.evals == second.evals  # same config + seed -> identical metrics on CPU
    assert first.train_loss == second.train_loss
    assert first.steps == total_steps(256, settings) == 64
    assert [row["step"] for row in first.evals] == [20, 40, 60, 64]
    assert first.evals[-1]["val_accuracy"] > 0.9
    assert evaluate(model, val, classes=2, metric="accuracy")["accuracy"] == first.evals[-1]["val_accuracy"]


def test_progress_and_metrics_are_reported(tiny_bert):
    backbone, tokenizer = tiny_bert
    train = encode_texts(tokenizer, *_toy_texts(64, seed=0), max_length=16)
    reports, logged = [], []
    ctx = TrialContext(trial_id="t", report=reports.append, log_metrics=lambda step, m: logged.append((step, m)))
    settings = TrainSettings(epochs=1, lr=1e-3, batch_size=8, log_every=2)
    train_model(_classifier(backbone), train, classes=2, metric="accuracy", settings=settings, ctx=ctx)
    steps = [r["step"] for r in reports if "loss" in r]
    assert steps == [2, 4, 6, 8]
    assert all(r["total"] == 8 for r in reports if "total" in r)
    assert [step for step, _ in logged] == [2, 4, 6, 8]
    assert all(np.isfinite(m["train_loss"]) for _, m in logged)


class _NaNAfter(torch.nn.Module):
    """Wraps a model and makes its logits NaN from the k-th forward call on."""

    def __init__(self, inner: torch.nn.Module, k: int) -> None:
        super().__init__()
        self.inner, self.k, self.calls = inner, k, 0

    def forward(self, **batch):
        self.calls += 1
        logits = self.inner(**batch)
        return logits * float("nan") if self.calls >= self.k else logits


def test_nan_loss_stops_as_diverged_at_the_exact_step(tiny_bert):
    backbone, tokenizer = tiny_bert
    train = encode_texts(tokenizer, *_toy_texts(128, seed=0), max_length=16)
    model = _NaNAfter(_classifier(backbone), k=13)
    with pytest.raises(TrialDiverged) as info:
        train_model(model, train, classes=2, metric="accuracy", settings=TrainSettings(epochs=1, batch_size=8))
    assert info.value.step == 13


def test_cancel_token_stops_training(tiny_bert):
    backbone, tokenizer = tiny_bert
    train = encode_texts(tokenizer, *_toy_texts(128, seed=0), max_length=16)
    ctx = TrialContext(trial_id="t")
    ctx.report = lambda p: ctx.cancel.set() if p.get("step", 0) >= 2 else None
    settings = TrainSettings(epochs=1, batch_size=8, log_every=1)
    with pytest.raises(TrialCancelled):
        train_model(_classifier(backbone), train, classes=2, metric="accuracy", settings=settings, ctx=ctx)


def test_fully_frozen_model_is_an_error(tiny_bert):
    backbone, tokenizer = tiny_bert
    model = _classifier(backbone)
    model.requires_grad_(False)
    train = encode_texts(tokenizer, *_toy_texts(16, seed=0), max_length=16)
    with pytest.raises(ConfigError, match="Nothing to train"):
        train_model(model, train, classes=2, metric="accuracy", settings=TrainSettings(epochs=1))


@pytest.mark.parametrize(
    "kwargs, message",
    [({"optimizer": "sgd"}, "optimizer"), ({"lr": -1.0}, "lr"), ({"schedule": "cosine"}, "schedule")],
)
def test_train_settings_validate(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        TrainSettings(**kwargs)


def test_regression_and_multi_position_heads(tiny_bert):
    backbone, _ = tiny_bert
    hidden = backbone.config.hidden_size
    torch.manual_seed(0)
    vectors = torch.randn(8, 10, 1)
    multi = SequenceModel(
        copy.deepcopy(backbone), hidden, OutputSpec(classes=2, positions=5, output_tokens=5), input_dim=1
    )
    assert multi(inputs=vectors).shape == (8, 5, 2)
    reg = SequenceModel(copy.deepcopy(backbone), hidden, OutputSpec(classes=1), input_dim=1)
    assert reg(inputs=vectors).shape == (8,)
