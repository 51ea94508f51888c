"""Token states of a frozen model at one hidden state, kept by token sequence and shared by a few trials.

A is frozen up to hidden state i, so its states for a token sequence never change: a stitch trial computes them
once for its training, validation and test rows instead of once per epoch and evaluation, and the random-stitch
trial of the same pair and seed (run next) finds them ready. The same holds for B's states at j, which the stitch's
least-squares fit reads. Rows are keyed by their token ids, so a table can never hand out states of other text.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable

import numpy as np
import torch
from torch import nn

#: tables kept per process: A's at i and B's at j, what one pair's two trials share
_CAPACITY = 2
_TABLES: OrderedDict[Hashable, StateTable] = OrderedDict()
_GUARD = threading.Lock()


class StateTable:
    """Hidden state `index` of a frozen `model`, per token sequence: {ids bytes: (length, hidden) float32}."""

    def __init__(self, model: nn.Module, index: int, device: torch.device) -> None:
        self.model, self.index, self.device = model, index, device
        self.rows: dict[bytes, torch.Tensor] = {}
        self.lock = threading.Lock()

    def fill(self, ids: list[np.ndarray], batch_size: int) -> None:
        """Compute the rows of `ids` not held yet, in batches of similar length (little padding)."""
        from embedxfer.experiments.stitching.model import hidden_state

        with self.lock:
            missing = list({row.tobytes(): row for row in ids if row.tobytes() not in self.rows}.values())
            missing.sort(key=len)
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                width = max(len(row) for row in chunk)
                input_ids = torch.zeros((len(chunk), width), dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for r, row in enumerate(chunk):
                    input_ids[r, : len(row)] = torch.from_numpy(row)
                    mask[r, : len(row)] = 1
                with torch.no_grad():
                    states = hidden_state(self.model, input_ids.to(self.device), mask.to(self.device), self.index)
                states = states.float().cpu()
                for r, row in enumerate(chunk):
                    self.rows[row.tobytes()] = states[r, : len(row)].clone()

    def tokens(self, ids: list[np.ndarray]) -> torch.Tensor:
        """The states of every token of `ids`, rows one after another: (tokens, hidden)."""
        return torch.cat([self.rows[row.tobytes()] for row in ids])

    def batch(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(batch, seq, hidden) states of a padded batch; padding positions hold zeros (every consumer masks or
        pools them away)."""
        lengths = attention_mask.sum(1).tolist()
        ids = [row[: int(n)].cpu().numpy() for row, n in zip(input_ids, lengths, strict=True)]
        if any(row.tobytes() not in self.rows for row in ids):
            self.fill(ids, batch_size=len(ids))
        first = self.rows[ids[0].tobytes()]
        out = torch.zeros((len(ids), input_ids.shape[1], first.shape[-1]), dtype=first.dtype)
        for r, row in enumerate(ids):
            out[r, : len(row)] = self.rows[row.tobytes()]
        return out.to(input_ids.device)


def state_table(key: Hashable, model: nn.Module, index: int, device: torch.device) -> StateTable:
    """The table kept under `key` (what the states depend on: checkpoint and its fingerprint, index, device), or a
    new one for `model` replacing the least recently used."""
    with _GUARD:
        table = _TABLES.pop(key, None) or StateTable(model, index, device)
        _TABLES[key] = table
        while len(_TABLES) > _CAPACITY:
            _TABLES.popitem(last=False)
        return table
