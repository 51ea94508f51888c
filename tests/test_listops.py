"""ListOps: the evaluator on hand-written expressions, the parser's errors, and generated data round trips."""

from __future__ import annotations

import numpy as np
import pytest

from embedxfer.errors import TaskError
from embedxfer.tasks import load_task
from embedxfer.tasks.listops import VOCAB, apply_operator, evaluate_string, parse, random_tree, to_tokens

SMALL = {"n_train": 300, "n_val": 50, "n_test": 50, "seed": 3}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9),
        ("[MIN 3 [MAX 1 0 ] 5 ]", 1),
        ("[MED 3 1 2 ]", 2),
        ("[MED 2 5 ]", 3),  # even count: floor of the mean of the middle two (3.5 -> 3)
        ("[MED 1 2 3 4 ]", 2),  # 2.5 -> 2
        ("[MED 9 9 ]", 9),
        ("[MED 0 9 4 4 ]", 4),
        ("[SM 5 7 9 ]", 1),  # 21 mod 10
        ("[SUM_MOD 5 5 ]", 0),  # alias spelling
        ("[SM [MAX 8 9 ] [MIN 9 7 ] ]", 6),  # 16 mod 10
        ("[MAX [MED [SM 1 2 ] 0 8 ] [MIN 4 [MAX 1 2 ] ] ]", 3),
        ("7", 7),
    ],
)
def test_evaluator_on_hand_written_expressions(text: str, value: int) -> None:
    assert evaluate_string(text) == value


def test_median_matches_lra_convention() -> None:
    rng = np.random.default_rng(0)
    for _ in range(500):
        values = [int(v) for v in rng.integers(0, 10, size=int(rng.integers(1, 9)))]
        assert apply_operator("[MED", values) == int(np.median(values))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[MAX 2 3", "ends before"),
        ("[MAX 2 3 ] ]", "continues after"),
        ("2 3", "outside any operator"),
        ("[MAX 2 12 ]", "Unknown ListOps token"),
        ("[AVG 1 2 ]", "Unknown ListOps token"),
        ("]", "never opened"),
        ("", "empty"),
    ],
)
def test_malformed_expressions_raise_one_line_errors(text: str, fragment: str) -> None:
    with pytest.raises(TaskError, match=fragment) as err:
        parse(text)
    assert "\n" not in str(err.value)


def test_tree_tokens_round_trip() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        tree = random_tree(rng, max_depth=5, max_args=4, branch_p=0.3)
        assert parse(to_tokens(tree)) == tree


def test_generated_strings_parse_back_to_their_labels() -> None:
    task = load_task("listops", **SMALL)
    assert task.modality == "tokens" and task.vocab_size == len(VOCAB) == 16
    assert task.num_classes == 10 and task.label_names == [str(d) for d in range(10)]
    for split in (task.train, task.val, task.test):
        assert split.texts is not None and split.lengths is not None
        for text, label, ids, length in zip(split.texts, split.labels, split.inputs, split.lengths, strict=True):
            assert evaluate_string(text) == label
            tokens = text.split()
            assert len(tokens) == length and 20 <= length <= 128
            assert [VOCAB[i] for i in ids[:length]] == tokens
            assert not ids[length:].any()  # padded with 0 on the right
            assert ids[:length].all()  # pad never inside an expression


def test_generation_is_seeded_and_test_is_held_out() -> None:
    a = load_task("listops", **SMALL)
    b = load_task("listops", **{**SMALL, "n_train": 100})
    c = load_task("listops", **{**SMALL, "seed": 4})
    assert a.test.texts == b.test.texts and a.val.texts == b.val.texts  # train size leaves val/test alone
    assert a.train.texts[:100] == b.train.texts
    assert a.test.texts != c.test.texts
    assert not set(a.test.texts) & set(a.train.texts)
    assert not set(a.val.texts) & set(a.train.texts)
    assert len(set(a.train.texts)) == len(a.train.texts)
    assert a.info["padded_length"] == a.train.inputs.shape[1]


def test_length_options_are_respected_and_checked() -> None:
    task = load_task("listops", n_train=50, n_val=10, n_test=10, min_length=30, max_length=60)
    assert task.train.lengths.min() >= 30 and task.train.lengths.max() <= 60
    with pytest.raises(TaskError, match="too few distinct expressions"):
        load_task("listops", n_train=10, n_val=10, n_test=10, min_length=900, max_length=1000)
    with pytest.raises(TaskError, match="max_length must be at least 30"):
        load_task("listops", min_length=30, max_length=20)
    with pytest.raises(TaskError, match="max_args"):
        load_task("listops", max_args=1)
