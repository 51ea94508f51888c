"""Handwritten digits (scikit-learn's `load_digits`: 1,797 images of 8x8 pixels) as patch sequences.

The FPT paper feeds MNIST to a frozen transformer as 4x4 patches (64 tokens of dim 16); these
8x8 images are the offline stand-in. A `patch` of p cuts each image into (8/p)^2 non-overlapping
p x p patches in raster order (row by row), each flattened row-major into a vector of p*p
pixel values scaled from 0..16 to [0, 1]. patch=2 (default): 16 tokens of dim 4; patch=4: 4
tokens of dim 16.
"""

from __future__ import annotations

import functools

import numpy as np

from embedxfer.errors import TaskError
from embedxfer.tasks.base import Task, TaskEntry, check_int, class_counts, make_splits, split_indices
from embedxfer.tasks.registry import register_task

_SIDE = 8
_PATCHES = (1, 2, 4, 8)


@functools.lru_cache(maxsize=1)
def _images() -> tuple[np.ndarray, np.ndarray]:
    """(images float32 (N, 8, 8) in [0, 1], labels int64 (N,))."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise TaskError("The digits task needs scikit-learn; install it with `pip install scikit-learn`.") from None
    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    return images, digits.target.astype(np.int64)


def to_patches(images: np.ndarray, patch: int) -> np.ndarray:
    """(N, H, W) images -> (N, (H/p)*(W/p), p*p) patch tokens in raster order."""
    n, h, w = images.shape
    rows, cols = h // patch, w // patch
    # (N, rows, p, cols, p) -> (N, rows, cols, p, p): patch (r, c) holds pixels [r*p:(r+1)*p, c*p:(c+1)*p]
    blocks = images.reshape(n, rows, patch, cols, patch).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(blocks.reshape(n, rows * cols, patch * patch))


@register_task(
    "digits",
    description="8x8 handwritten digits (scikit-learn) as a sequence of pixel patches, 10 classes.",
    modality="vectors",
    label_kind="classes",
    metric="accuracy",
    options={"patch": 2},
    option_help={"patch": "patch side in pixels: 1, 2 (16 tokens of dim 4), 4 (4 tokens of dim 16) or 8"},
)
def digits(entry: TaskEntry, patch: int = 2) -> Task:
    patch = check_int("patch", patch)
    if patch not in _PATCHES:
        raise TaskError(f"Option patch must divide the 8-pixel side: one of {_PATCHES}, not {patch}.")
    images, labels = _images()
    tokens = to_patches(images, patch)
    train, val, test = make_splits(tokens, labels, split_indices(len(labels), strata=labels))
    names = [str(d) for d in range(10)]
    return entry.task(
        num_classes=10,
        label_names=names,
        train=train,
        val=val,
        test=test,
        input_dim=patch * patch,
        info={
            "description": f"8x8 digit images as {tokens.shape[1]} patches of {patch}x{patch} pixels in [0, 1].",
            "source": "scikit-learn sklearn.datasets.load_digits (UCI optical recognition of handwritten digits)",
            "tokens": tokens.shape[1],
            "class_counts": class_counts(labels, names),
        },
    )
