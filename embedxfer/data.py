"""Turning task splits into batches: tokenize once, bucket by length, pad per batch.

Length bucketing: examples are shuffled, cut into pools of `pool_batches` batches, each pool is
sorted by length and cut into batches, and the batch order is shuffled. Batches then hold
similar lengths, so dynamic padding wastes little compute, while the order stays random.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from embedxfer.errors import TaskError


@dataclass
class EncodedSplit:
    """A split ready for batching: one token-id array (or vector sequence) per example."""

    #: token ids per example (variable length), or None for vector inputs
    ids: list[np.ndarray] | None
    #: (N, L, d) float32 inputs for the vectors modality, or None
    vectors: np.ndarray | None
    labels: np.ndarray
    pad_id: int = 0

    def __len__(self) -> int:
        return len(self.labels)

    def lengths(self) -> np.ndarray:
        if self.ids is None:
            return np.full(len(self.labels), self.vectors.shape[1])
        return np.fromiter((len(x) for x in self.ids), dtype=np.int64, count=len(self.ids))


def encode_texts(tokenizer, texts: Sequence[str], labels: np.ndarray, max_length: int) -> EncodedSplit:
    """Tokenize every text once (truncated, special tokens added, no padding)."""
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length, padding=False)
    ids = [np.asarray(x, dtype=np.int64) for x in encoded["input_ids"]]
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    return EncodedSplit(ids=ids, vectors=None, labels=np.asarray(labels), pad_id=int(pad_id))


def encode_split(split, modality: str, tokenizer=None, max_length: int = 128) -> EncodedSplit:
    """Encode a task split of any modality."""
    if modality == "text":
        if tokenizer is None:
            raise TaskError("A text task needs a checkpoint with a tokenizer.")
        return encode_texts(tokenizer, split.inputs, split.labels, max_length)
    if modality == "tokens":
        inputs = np.asarray(split.inputs)
        lengths = split.lengths if split.lengths is not None else np.full(len(inputs), inputs.shape[1])
        ids = [row[: min(int(n), max_length)].astype(np.int64) for row, n in zip(inputs, lengths, strict=True)]
        return EncodedSplit(ids=ids, vectors=None, labels=np.asarray(split.labels), pad_id=0)
    if modality == "vectors":
        return EncodedSplit(
            ids=None, vectors=np.asarray(split.inputs, dtype=np.float32), labels=np.asarray(split.labels)
        )
    raise TaskError(f"Unknown task modality {modality!r}; expected text, tokens or vectors.")


def batch_order(
    lengths: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, pool_batches: int = 50
) -> list[np.ndarray]:
    """Index arrays, one per batch: length-bucketed and shuffled when `shuffle`, else sorted by length."""
    n = len(lengths)
    if not shuffle:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size] for i in range(0, n, batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    pool = batch_size * pool_batches
    batches = []
    for start in range(0, n, pool):
        chunk = order[start : start + pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def collate(split: EncodedSplit, indices: np.ndarray) -> dict[str, torch.Tensor]:
    """One padded batch: input_ids + attention_mask (or inputs), and labels."""
    labels = torch.from_numpy(np.ascontiguousarray(split.labels[indices]))
    if split.ids is None:
        return {"inputs": torch.from_numpy(split.vectors[indices]), "labels": labels}
    rows = [split.ids[i] for i in indices]
    width = max(len(r) for r in rows)
    input_ids = np.full((len(rows), width), split.pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for j, r in enumerate(rows):
        input_ids[j, : len(r)] = r
        mask[j, : len(r)] = 1
    return {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask), "labels": labels}


def iterate_batches(
    split: EncodedSplit, batch_size: int, *, shuffle: bool, seed: int = 0
) -> Iterator[dict[str, torch.Tensor]]:
    """Yield padded batches of a split for one pass."""
    for indices in batch_order(split.lengths(), batch_size, shuffle=shuffle, seed=seed):
        yield collate(split, indices)
