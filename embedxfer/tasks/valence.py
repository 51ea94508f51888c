"""Word valence from the VADER lexicon shipped by the `vaderSentiment` package.

`vader_lexicon.txt` has one tab-separated line per token: token, mean valence (-4..+4, the mean of
ten human ratings), standard deviation, the ten raw ratings. The file lower-cased its tokens, so
14 of them ('lol', 'd:', 'xd', ...) now appear twice with different ratings (once for each
original casing, which is lost). Those are ambiguous and dropped; the count is in
`task.info["cleaning"]`.

- `word-valence`: regress the mean rating (metric: Pearson correlation).
- `word-valence-binary`: negative vs positive; tokens with |valence| < `threshold` (default 0.5)
  are dropped as neither. Ten raters give a standard error near 0.3 for a typical rater spread
  of ~0.9, so 0.5 keeps words whose sign the raters agree on while dropping only ~9% of the lexicon.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from embedxfer.tasks.base import (
    Split,
    Task,
    TaskEntry,
    check_float,
    class_counts,
    make_splits,
    package_data_file,
    split_indices,
)
from embedxfer.tasks.registry import register_task

_DIST = "vaderSentiment"
_LEXICON = "vaderSentiment/vader_lexicon.txt"
_SOURCE = f"pip package {_DIST}: {_LEXICON}"
DEFAULT_THRESHOLD = 0.5
# Strata for the fixed split: negative / near zero / positive at the default threshold, so the
# binary task (a filter of these splits) is balanced whatever threshold a user picks later.
_STRATA_EDGE = DEFAULT_THRESHOLD


@functools.lru_cache(maxsize=1)
def read_lexicon() -> tuple[tuple[str, ...], np.ndarray, dict]:
    """(tokens, mean valence float32, cleaning report) with ambiguous duplicate tokens removed."""
    path = package_data_file(_DIST, _LEXICON)
    rows = []
    malformed = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        try:
            rows.append((fields[0], float(fields[1])))
        except (IndexError, ValueError):
            malformed += int(bool(line.strip()))
    counts = Counter(token for token, _ in rows)
    kept = [(t, v) for t, v in rows if counts[t] == 1 and t.strip()]
    report = {
        "raw_rows": len(rows) + malformed,
        "malformed_dropped": malformed,
        "duplicate_tokens": sum(1 for c in counts.values() if c > 1),
        "duplicates_dropped": sum(c for c in counts.values() if c > 1),
        "kept": len(kept),
    }
    tokens = tuple(t for t, _ in kept)
    values = np.array([v for _, v in kept], dtype=np.float32)
    return tokens, values, report


@functools.lru_cache(maxsize=1)
def _splits() -> tuple[Split, Split, Split]:
    tokens, values, _ = read_lexicon()
    strata = np.sign(values) * (np.abs(values) >= _STRATA_EDGE)
    return make_splits(list(tokens), values, split_indices(len(tokens), strata=strata))


@register_task(
    "word-valence",
    description="Regress the mean human valence rating (-4..+4) of 7.5k words and emoticons (VADER lexicon).",
    modality="text",
    label_kind="regression",
    metric="pearson",
)
def word_valence(entry: TaskEntry) -> Task:
    _, values, report = read_lexicon()
    train, val, test = _splits()
    return entry.task(
        num_classes=None,
        label_names=None,
        train=train.copy(),
        val=val.copy(),
        test=test.copy(),
        info={
            "description": "Mean valence of a word or emoticon, rated by ten people on -4 (negative) .. +4.",
            "source": _SOURCE,
            "cleaning": dict(report),
            "label_range": [float(values.min()), float(values.max())],
        },
    )


def _binarize(split: Split, threshold: float) -> Split:
    values = np.asarray(split.labels)
    keep = np.flatnonzero(np.abs(values) >= threshold)
    kept = split.take(keep)
    labels = (np.asarray(kept.labels) > 0).astype(np.int64)
    labels.flags.writeable = False
    return Split(kept.inputs, labels)


@register_task(
    "word-valence-binary",
    description="Is a word negative or positive? VADER lexicon, near-neutral words (|valence| < threshold) dropped.",
    modality="text",
    label_kind="classes",
    metric="accuracy",
    options={"threshold": DEFAULT_THRESHOLD},
    option_help={"threshold": "drop words whose mean valence is closer to 0 than this (0 to 3)"},
)
def word_valence_binary(entry: TaskEntry, threshold: float = DEFAULT_THRESHOLD) -> Task:
    threshold = check_float("threshold", threshold, minimum=0.0, maximum=3.0)
    _, _, report = read_lexicon()
    train, val, test = (_binarize(s, threshold) for s in _splits())
    names = ["negative", "positive"]
    kept = len(train) + len(val) + len(test)
    all_labels = np.concatenate([train.labels, val.labels, test.labels])
    cleaning = {**report, "near_zero_dropped": report["kept"] - kept, "kept_binary": kept}
    cleaning["class_counts"] = class_counts(all_labels, names)
    return entry.task(
        num_classes=2,
        label_names=names,
        train=train,
        val=val,
        test=test,
        info={
            "description": f"Negative vs positive words and emoticons (|valence| >= {threshold:g}).",
            "source": _SOURCE,
            "cleaning": cleaning,
            "threshold": threshold,
        },
    )
