"""The FPT paper's bit tasks (Lu et al. 2021, section 3.1), generated from a seed.

- `bit-xor`: two 5-bit strings in {0, 1} given as 10 tokens of dim 1; predict their elementwise
  XOR, read from the last 5 tokens (2 classes per position). There are only 1,024 distinct
  inputs, so train and test overlap; the paper samples every batch afresh, and so do we (iid).
- `bit-memory`: 5 patterns of n bits in {-1, +1}, then a query: one of them with each bit
  multiplied by a Bernoulli(1 - mask_p) keep-mask (hidden bits become 0). The 6n values are cut
  into patches of p (paper: n=1000, p=50, so 120 tokens of dim 50); predict the unmasked
  pattern as {0, 1} (+1 -> 1) from the last n/p tokens, p bits per token.

Each split draws from its own random stream (seed, split), so changing n_train leaves val/test
as they were. Labels are (N, K) int64: K=5 for xor, K=n for memory; metric = per-bit accuracy.
"""

from __future__ import annotations

import numpy as np

from embedxfer.errors import TaskError
from embedxfer.tasks.base import Split, Task, TaskEntry, check_float, check_int, readonly
from embedxfer.tasks.registry import register_task

_SPLITS = ("train", "val", "test")
_MAX_EXAMPLES = 1_000_000
# Guard against options that would fill memory (float32 values over all splits, ~1.2 GB).
_MAX_VALUES = 300_000_000
_SIZE_OPTIONS = {"n_train": 2000, "n_val": 500, "n_test": 500, "seed": 0}
_SIZE_HELP = {
    "n_train": "training examples to generate",
    "n_val": "validation examples",
    "n_test": "test examples",
    "seed": "generator seed (each split uses its own stream)",
}


def _sizes(n_train: int, n_val: int, n_test: int, seed: int) -> tuple[dict[str, int], int]:
    sizes = {
        "train": check_int("n_train", n_train, minimum=1, maximum=_MAX_EXAMPLES),
        "val": check_int("n_val", n_val, minimum=1, maximum=_MAX_EXAMPLES),
        "test": check_int("n_test", n_test, minimum=1, maximum=_MAX_EXAMPLES),
    }
    return sizes, check_int("seed", seed, minimum=0)


def _rng(seed: int, split: str) -> np.random.Generator:
    return np.random.default_rng([seed, _SPLITS.index(split)])


def make_xor(n: int, rng: np.random.Generator, bits: int = 5) -> Split:
    """n examples: inputs float32 (n, 2*bits, 1), labels int64 (n, bits) = a XOR b."""
    a = rng.integers(0, 2, size=(n, bits), dtype=np.int64)
    b = rng.integers(0, 2, size=(n, bits), dtype=np.int64)
    inputs = np.concatenate([a, b], axis=1).astype(np.float32)[:, :, None]
    return Split(readonly(inputs), readonly(np.bitwise_xor(a, b)))


@register_task(
    "bit-xor",
    description="FPT Bit XOR: two 5-bit strings as 10 tokens of dim 1; predict their XOR from the last 5 tokens.",
    modality="vectors",
    label_kind="classes",
    metric="accuracy",
    options=dict(_SIZE_OPTIONS),
    option_help=dict(_SIZE_HELP),
)
def bit_xor(entry: TaskEntry, n_train: int = 2000, n_val: int = 500, n_test: int = 500, seed: int = 0) -> Task:
    sizes, seed = _sizes(n_train, n_val, n_test, seed)
    train, val, test = (make_xor(sizes[s], _rng(seed, s)) for s in _SPLITS)
    return entry.task(
        num_classes=2,
        label_names=["0", "1"],
        train=train,
        val=val,
        test=test,
        output_tokens=5,
        input_dim=1,
        info={
            "description": "Elementwise XOR of two 5-bit strings (10 input tokens, 5 output positions).",
            "source": "generated (Lu et al. 2021, Bit XOR)",
            "bits_per_output_token": 1,
        },
    )


def make_memory(n: int, rng: np.random.Generator, *, n_bits: int, patch: int, n_patterns: int, mask_p: float) -> Split:
    """n examples: inputs float32 (n, (n_patterns+1)*n_bits/patch, patch), labels int64 (n, n_bits) in {0, 1}."""
    patterns = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n, n_patterns, n_bits))
    which = rng.integers(0, n_patterns, size=n)
    target = patterns[np.arange(n), which]  # (n, n_bits)
    keep = (rng.random((n, n_bits)) >= mask_p).astype(np.int8)  # mask bit 0 hides the query bit
    sequence = np.concatenate([patterns.reshape(n, -1), target * keep], axis=1)  # (n, (n_patterns+1)*n_bits)
    inputs = sequence.astype(np.float32).reshape(n, -1, patch)
    labels = (target > 0).astype(np.int64)
    return Split(readonly(inputs), readonly(labels))


@register_task(
    "bit-memory",
    description="FPT Bit Memory: 5 random {-1,+1} patterns and a half-masked copy of one; recall the full pattern.",
    modality="vectors",
    label_kind="classes",
    metric="accuracy",
    options={"n_bits": 1000, "patch": 50, "n_patterns": 5, "mask_p": 0.5, **_SIZE_OPTIONS, "n_train": 1000},
    option_help={
        "n_bits": "bits per pattern (paper: 1000); a multiple of patch",
        "patch": "bits per input token (paper: 50)",
        "n_patterns": "patterns shown before the query (paper: 5)",
        "mask_p": "probability that a query bit is hidden (paper: 0.5)",
        **_SIZE_HELP,
    },
)
def bit_memory(
    entry: TaskEntry,
    n_bits: int = 1000,
    patch: int = 50,
    n_patterns: int = 5,
    mask_p: float = 0.5,
    n_train: int = 1000,
    n_val: int = 500,
    n_test: int = 500,
    seed: int = 0,
) -> Task:
    n_bits = check_int("n_bits", n_bits, minimum=1)
    patch = check_int("patch", patch, minimum=1)
    n_patterns = check_int("n_patterns", n_patterns, minimum=1, maximum=100)
    mask_p = check_float("mask_p", mask_p, minimum=0.0, maximum=1.0)
    sizes, seed = _sizes(n_train, n_val, n_test, seed)
    if n_bits % patch:
        raise TaskError(f"Option n_bits ({n_bits}) must be a multiple of patch ({patch}), e.g. {patch * 20}.")
    total = sum(sizes.values()) * (n_patterns + 1) * n_bits
    if total > _MAX_VALUES:
        raise TaskError(
            f"bit-memory with these options would hold {total:,} input values (limit {_MAX_VALUES:,}); "
            "lower n_bits or the split sizes."
        )
    train, val, test = (
        make_memory(sizes[s], _rng(seed, s), n_bits=n_bits, patch=patch, n_patterns=n_patterns, mask_p=mask_p)
        for s in _SPLITS
    )
    return entry.task(
        num_classes=2,
        label_names=["0", "1"],
        train=train,
        val=val,
        test=test,
        output_tokens=n_bits // patch,
        input_dim=patch,
        info={
            "description": (
                f"Recall one of {n_patterns} patterns of {n_bits} bits from a copy with each bit hidden with "
                f"p={mask_p:g}; {(n_patterns + 1) * n_bits // patch} tokens of dim {patch}."
            ),
            "source": "generated (Lu et al. 2021, Bit Memory)",
            "bits_per_output_token": patch,
        },
    )
