"""Every layer's pooled representation of a task's examples, from one forward pass, cached on disk.

Probing (and the explorer's layer maps) read frozen representations of each layer of a checkpoint. All layers
come from one forward pass with `output_hidden_states` (layer 0 = the embedding output, layer L = the last block),
pooled per example, so no layer is ever encoded twice (docs/architecture.md, "Feature cache").

The cache is keyed by (checkpoint fingerprint, task content hash, split, pooling, max_length): a changed
checkpoint or task gets a new key and can never read stale features. Under one key, rows are stored by their
index in the split as they are computed (chunk files), so a later request for other rows of the same split (a
bigger train size, another seed's subset) computes only the rows not seen yet.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from embedxfer.errors import TaskError
from embedxfer.paths import cache_dir, write_atomic

if TYPE_CHECKING:
    from embedxfer.tasks import Task

#: Poolings of a layer's token states into one vector: mean over real tokens, the first token, the last one.
FEATURE_POOLINGS = ("mean", "first", "last")
#: The same poolings under the finetuning heads' names (`embedxfer.heads.pool`), so a kind may pass either.
_HEAD_NAMES = {"first": "cls"}
_FEATURE_NAMES = {head: feature for feature, head in _HEAD_NAMES.items()}
SPLITS = ("train", "val", "test")
_FORMAT = 1
_LOCKS: dict[str, threading.Lock] = {}
_LOCKS_GUARD = threading.Lock()


@dataclass(frozen=True)
class FeatureKey:
    """What the features of one split depend on; `digest` names its cache folder."""

    checkpoint_fingerprint: str
    task_hash: str
    split: str
    pooling: str
    max_length: int

    @property
    def digest(self) -> str:
        text = json.dumps([_FORMAT, *self.__dict__.values()], sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass
class FeatureResult:
    """Features of the requested rows: (rows, layers + 1, hidden) float32, and how many rows were computed now."""

    features: np.ndarray
    computed: int
    cached: int


def feature_key(checkpoint: str, task: Task, split: str, pooling: str, max_length: int) -> FeatureKey:
    from embedxfer.checkpoints import checkpoint_fingerprint

    if split not in SPLITS:
        raise TaskError(f"Split must be one of {', '.join(SPLITS)}, got {split!r}.")
    pooling = _FEATURE_NAMES.get(pooling, pooling)  # "cls" and "first" are one pooling and one cache entry
    if pooling not in FEATURE_POOLINGS:
        raise TaskError(f"Pooling must be one of {', '.join(FEATURE_POOLINGS)}, got {pooling!r}.")
    return FeatureKey(checkpoint_fingerprint(checkpoint), task.content_hash(), split, pooling, int(max_length))


def _lock(digest: str) -> threading.Lock:
    with _LOCKS_GUARD:
        return _LOCKS.setdefault(digest, threading.Lock())


def _folder(key: FeatureKey) -> Path:
    return cache_dir("features", key.digest)


def _read_chunks(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """([row indices per chunk], [features per chunk]) of every chunk cached under `folder`."""
    rows, feats = [], []
    for path in sorted(folder.glob("chunk-*.npz")):
        with np.load(path) as data:
            rows.append(data["rows"])
            feats.append(data["features"])
    return rows, feats


def layer_features(
    checkpoint: str,
    task: Task,
    split: str,
    rows: np.ndarray,
    *,
    pooling: str = "mean",
    max_length: int = 128,
    device: str = "cpu",
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> FeatureResult:
    """Pooled hidden states of every layer for `rows` (indices into `task.<split>`), from the cache where present.

    `progress(done, total)` is called while rows are encoded; `cancelled()` is checked between batches.
    """
    if task.modality != "text":
        raise TaskError(
            f"Layer features read a checkpoint's representation of text; task {task.name!r} has "
            f"{task.modality} inputs. Pick a text task (see `embedxfer tasks`)."
        )
    rows = np.asarray(rows, dtype=np.int64)
    data = getattr(task, split)
    if rows.size and (rows.min() < 0 or rows.max() >= len(data)):
        raise TaskError(f"Row indices must lie in 0..{len(data) - 1} for the {split} split of {task.name!r}.")
    key = feature_key(checkpoint, task, split, pooling, max_length)
    folder = _folder(key)
    with _lock(key.digest):  # one computation per key at a time; a second caller then finds the rows cached
        chunk_rows, chunk_feats = _read_chunks(folder)
        seen = np.concatenate(chunk_rows) if chunk_rows else np.zeros(0, dtype=np.int64)
        missing = np.setdiff1d(np.unique(rows), seen)
        if missing.size:
            texts = [data.inputs[i] for i in missing]
            computed = encode_layers(
                checkpoint, texts, key.pooling, max_length, device, batch_size, progress, cancelled
            )
            _save_chunk(folder / f"chunk-{len(chunk_rows):05d}.npz", missing, computed)
            write_atomic(folder / "key.json", key.__dict__)
            chunk_rows.append(missing)
            chunk_feats.append(computed)
    if not rows.size:
        return FeatureResult(features=np.zeros((0, 0, 0), dtype=np.float32), computed=0, cached=0)
    all_rows, all_feats = np.concatenate(chunk_rows), np.concatenate(chunk_feats)
    order = np.argsort(all_rows)  # chunks hold disjoint rows, so each requested row is found exactly once
    found = order[np.searchsorted(all_rows, rows, sorter=order)]
    return FeatureResult(
        features=all_feats[found], computed=int(missing.size), cached=int(np.isin(rows, missing, invert=True).sum())
    )


def _save_chunk(path: Path, rows: np.ndarray, features: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, rows=rows, features=features)
    write_atomic(path, buffer.getvalue())


def encode_layers(
    checkpoint: str,
    texts: list[str],
    pooling: str,
    max_length: int,
    device: str = "cpu",
    batch_size: int = 64,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> np.ndarray:
    """One forward pass over `texts` with every hidden state: (len(texts), layers + 1, hidden) float32."""
    import torch

    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.data import batch_order, collate, encode_texts
    from embedxfer.heads import pool
    from embedxfer.trials import TrialCancelled

    model, tokenizer, info = load_checkpoint(checkpoint)
    encoded = encode_texts(tokenizer, texts, np.zeros(len(texts), dtype=np.int64), max_length)
    out = np.zeros((len(texts), info.num_layers + 1, info.hidden_size), dtype=np.float32)
    heads_pooling = _HEAD_NAMES.get(pooling, pooling)
    target = torch.device(device)
    # The shared instance stays on the CPU for other threads; a GPU run works on its own copy.
    runner = model if target.type == "cpu" else _copy_to(model, target)
    done = 0
    with torch.inference_mode():
        for indices in batch_order(encoded.lengths(), batch_size, shuffle=False, seed=0):
            if cancelled is not None and cancelled():
                raise TrialCancelled()
            batch = collate(encoded, indices)
            mask = batch["attention_mask"].to(target)
            states = runner(
                input_ids=batch["input_ids"].to(target), attention_mask=mask, output_hidden_states=True
            ).hidden_states
            pooled = torch.stack([pool(h.float(), mask, heads_pooling) for h in states], dim=1)
            out[indices] = pooled.cpu().numpy()
            done += len(indices)
            if progress is not None:
                progress(done, len(texts))
    return out


def _copy_to(model, device):
    import copy

    return copy.deepcopy(model).to(device).eval()
