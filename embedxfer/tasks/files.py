"""Tasks from the user's own data: a CSV / TSV / JSONL / Parquet file, or a Hugging Face dataset when online.

Pick a text column and a label column. Rows missing either are dropped (and counted); labels
become class ids in sorted order (`label_names`), or floats with `label_kind="regression"`.
Splits are our own fixed, seeded 80/10/10 cut, stratified by class; a Hugging Face dataset's
splits are pooled first (their test labels are often hidden, marked -1, and dropped).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from embedxfer.errors import EmbedxferError, TaskError
from embedxfer.paths import check_user_path
from embedxfer.tasks.base import LABEL_KINDS, Task, TaskEntry, class_counts, class_ids, make_splits, split_indices
from embedxfer.tasks.registry import load_task, register_task

FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet"}
MIN_ROWS = 10
# More distinct labels than this almost always means a numeric column read as classes.
MAX_CLASSES = 1000


def _checked_path(path: str | os.PathLike) -> Path:
    try:
        resolved = check_user_path(path)
    except TaskError:
        raise
    except EmbedxferError as exc:
        raise TaskError(str(exc)) from None
    if resolved.is_dir():
        raise TaskError(f"{resolved} is a folder; give a CSV, TSV, JSONL or Parquet file.")
    return resolved


def read_table(path: str | os.PathLike) -> Any:
    """Read a user's data file into a pandas DataFrame; every failure is a one-line TaskError."""
    import pandas as pd

    resolved = _checked_path(path)
    kind = FORMATS.get(resolved.suffix.lower())
    if kind is None:
        raise TaskError(f"Cannot read {resolved.name}: use a file ending in {', '.join(FORMATS)}.")
    try:
        if resolved.stat().st_size == 0:
            raise TaskError(f"File {resolved} is empty; it needs a header and labelled rows.")
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(resolved, sep="\t" if kind == "tsv" else ",", encoding="utf-8")
        elif kind == "jsonl":
            frame = pd.read_json(resolved, lines=True, encoding="utf-8")
        else:
            frame = pd.read_parquet(resolved)
    except TaskError:
        raise
    except pd.errors.EmptyDataError:
        raise TaskError(f"File {resolved} is empty; it needs a header and labelled rows.") from None
    except UnicodeDecodeError:
        raise TaskError(f"File {resolved} is not UTF-8 text; save it with UTF-8 encoding.") from None
    except PermissionError:
        raise TaskError(f"File {resolved} cannot be read (permission denied); check its permissions.") from None
    except Exception as exc:  # parser errors differ per format and library version
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TaskError(f"File {resolved} could not be read as {kind.upper()} ({reason}); check its format.") from None
    if len(frame) == 0:
        raise TaskError(f"File {resolved} has a header but no rows; add labelled rows.")
    return frame


def task_from_frame(
    frame: Any,
    entry: TaskEntry,
    *,
    text_column: str,
    label_column: str,
    label_kind: str,
    name: str,
    where: str,
    source: str,
    label_names: list[str] | None = None,
) -> Task:
    """Build a text task of registry `entry` from a DataFrame; `where` names the data in error messages."""
    import pandas as pd

    if label_kind not in LABEL_KINDS:
        raise TaskError(f"label_kind must be one of {', '.join(LABEL_KINDS)}, not {label_kind!r}.")
    columns = [str(c) for c in frame.columns]
    for role, column in (("text", text_column), ("label", label_column)):
        if column not in columns:
            raise TaskError(
                f"{where} has no {role} column {column!r}; its columns are: {', '.join(columns)} "
                f"(pick one with ?{role}=COLUMN in the task name)."
            )
    raw_rows = len(frame)
    frame = frame[[text_column, label_column]].dropna()
    missing = raw_rows - len(frame)
    texts = [str(t).strip() for t in frame[text_column]]
    nonempty = np.array([bool(t) for t in texts], dtype=bool)
    raw_labels = frame[label_column].to_numpy()[nonempty]
    texts = [t for t, keep in zip(texts, nonempty, strict=True) if keep]
    report: dict[str, Any] = {
        "raw_rows": raw_rows,
        "missing_dropped": missing,
        "empty_dropped": int((~nonempty).sum()),
        "kept": len(texts),
    }
    if len(texts) < MIN_ROWS:
        raise TaskError(
            f"{where} has {len(texts)} usable rows (text and label both set); it needs at least {MIN_ROWS}."
        )

    if label_kind == "regression":
        values = pd.to_numeric(pd.Series(raw_labels), errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            first = raw_labels[int(np.flatnonzero(bad)[0])]
            raise TaskError(
                f"{where}: label {first!r} in column {label_column!r} is not a number; "
                "use label_kind='classes' for categories."
            )
        labels = values.to_numpy(dtype=np.float32)
        if np.allclose(labels, labels[0]):
            raise TaskError(f"{where}: every label in column {label_column!r} is {labels[0]:g}; nothing to regress.")
        strata, names, num_classes, metric = None, None, None, "pearson"
    else:
        labels, names = class_ids(list(raw_labels), what=f"{where} column {label_column!r}")
        if label_names is not None:  # keep a dataset's own class order (e.g. HF ClassLabel)
            order = [n for n in label_names if n in names] + [n for n in names if n not in label_names]
            remap = np.array([order.index(n) for n in names], dtype=np.int64)
            labels, names = remap[labels], order
        if len(names) > MAX_CLASSES:
            raise TaskError(
                f"{where}: column {label_column!r} has {len(names)} distinct labels; "
                "for a numeric target use label_kind='regression'."
            )
        report["class_counts"] = class_counts(labels, names)
        strata, num_classes, metric = labels, len(names), "accuracy"

    train, val, test = make_splits(texts, labels, split_indices(len(texts), strata=strata))
    return entry.task(
        name=name,
        label_kind=label_kind,
        metric=metric,
        num_classes=num_classes,
        label_names=names,
        train=train,
        val=val,
        test=test,
        info={
            "description": f"{where}: text column {text_column!r}, label column {label_column!r}.",
            "source": source,
            "cleaning": report,
        },
    )


def _file_fingerprint(options: dict) -> tuple:
    # The cache must notice a file edited in place, so its size and mtime join the key.
    resolved = _checked_path(options["path"])
    stat = resolved.stat()
    return (str(resolved), stat.st_mtime_ns, stat.st_size)


@register_task(
    "file",
    description="Your own CSV / TSV / JSONL / Parquet file with a text column and a label column.",
    modality="text",
    label_kind="classes",
    metric="accuracy",
    options={"text_column": "text", "label_column": "label", "label_kind": "classes", "name": None},
    option_help={
        "path": "the data file",
        "text_column": "column holding the text (default: a column called text)",
        "label_column": "column holding the label (default: a column called label)",
        "label_kind": "classes (accuracy) or regression (pearson)",
        "name": "a display name (default file:<file name>)",
    },
    required=("path",),
    listed=False,
    fingerprint=_file_fingerprint,
)
def _file_task(
    entry: TaskEntry,
    path: str,
    text_column: str = "text",
    label_column: str = "label",
    label_kind: str = "classes",
    name: str | None = None,
) -> Task:
    frame = read_table(path)
    resolved = _checked_path(path)
    return task_from_frame(
        frame,
        entry,
        text_column=text_column,
        label_column=label_column,
        label_kind=label_kind,
        name=name or f"file:{resolved.name}",
        where=f"File {resolved.name}",
        source=str(resolved),
    )


def load_file_task(
    path: str | os.PathLike,
    text_column: str,
    label_column: str,
    *,
    label_kind: str = "classes",
    name: str | None = None,
) -> Task:
    """A task from a CSV / TSV / JSONL / Parquet file (cached until the file changes)."""
    return load_task(
        "file", path=str(path), text_column=text_column, label_column=label_column, label_kind=label_kind, name=name
    )


@register_task(
    "hf",
    description="A Hugging Face dataset by name (needs the `datasets` package and a network connection).",
    modality="text",
    label_kind="classes",
    metric="accuracy",
    options={"config": None, "text_column": "text", "label_column": "label", "label_kind": "classes"},
    option_help={
        "dataset": "dataset name on the Hugging Face hub, e.g. imdb",
        "config": "dataset configuration (subset), if it has several",
        "text_column": "column holding the text",
        "label_column": "column holding the label",
        "label_kind": "classes (accuracy) or regression (pearson)",
    },
    required=("dataset",),
    listed=False,
)
def _hf_task(
    entry: TaskEntry,
    dataset: str,
    config: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    label_kind: str = "classes",
) -> Task:
    try:
        import datasets
    except ImportError:
        raise TaskError(
            "Loading a Hugging Face dataset needs the `datasets` package; install it with `pip install datasets`."
        ) from None
    import pandas as pd

    try:
        loaded = datasets.load_dataset(dataset, config)
    except Exception as exc:  # offline, unknown name, missing config: the library raises many kinds
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise TaskError(
            f"Could not load the Hugging Face dataset {dataset!r} ({reason}); check the name and config, "
            "and that this machine is online (HF_HUB_OFFLINE unset)."
        ) from None
    frames, names = [], None
    for split_name in loaded:
        part = loaded[split_name]
        feature = part.features.get(label_column)
        frame = part.to_pandas()
        if label_column in frame.columns and getattr(feature, "names", None):
            names = list(feature.names)
            ids = frame[label_column]
            frame = frame.loc[ids >= 0]  # -1 marks an unlabelled (hidden test) row
            frame[label_column] = [names[i] for i in frame[label_column]]
        frames.append(frame)
    if not frames:
        raise TaskError(f"The Hugging Face dataset {dataset!r} has no splits.")
    return task_from_frame(
        pd.concat(frames, ignore_index=True),
        entry,
        text_column=text_column,
        label_column=label_column,
        label_kind=label_kind,
        name=f"hf:{dataset}" + (f"/{config}" if config else ""),
        where=f"Hugging Face dataset {dataset!r}",
        source=f"huggingface.co/datasets/{dataset}" + (f" ({config})" if config else ""),
        label_names=names,
    )
