"""Per-token values a map can be coloured by: VADER valence (the vaderSentiment package's lexicon) and how often each
token occurs in a task's training texts under the checkpoint's own tokenizer."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from embedxfer.errors import EmbedxferError


@lru_cache(maxsize=1)
def vader_lexicon() -> dict[str, float]:
    """word -> mean valence (-4..4) from vaderSentiment's lexicon file (read as data; the package is not imported,
    it is installed without its dependencies)."""
    import importlib.util

    spec = importlib.util.find_spec("vaderSentiment")
    if spec is None or not spec.submodule_search_locations:
        raise EmbedxferError("The vaderSentiment package is not installed; run `make setup` to colour by valence.")
    path = Path(next(iter(spec.submodule_search_locations))) / "vader_lexicon.txt"
    out: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            try:
                out[parts[0]] = float(parts[1])
            except ValueError:
                continue
    return out


def vader_valence(surfaces: list[str]) -> np.ndarray:
    """Each token's VADER valence (its text lowercased, word starts and continuations alike); NaN when absent."""
    lexicon = vader_lexicon()
    return np.array([lexicon.get(s.strip().lower(), np.nan) for s in surfaces], dtype=np.float32)


def token_frequency(checkpoint: str, task_name: str, rows: int, limit: int = 20000) -> np.ndarray:
    """How many times each token row occurs in (up to `limit` of) `task_name`'s training texts."""
    from embedxfer.checkpoints import load_checkpoint
    from embedxfer.tasks import load_task

    task = load_task(task_name)
    if task.modality != "text":
        raise EmbedxferError(f"Task {task_name!r} has {task.modality} inputs; token frequencies need a text task.")
    tokenizer = load_checkpoint(checkpoint).tokenizer
    texts = [str(t) for t in task.train.inputs[:limit]]
    counts = np.zeros(rows, dtype=np.int64)
    for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]:
        ids = np.asarray(ids, dtype=np.int64)
        np.add.at(counts, ids[ids < rows], 1)
    return counts
