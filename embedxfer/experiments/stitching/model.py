"""The stitched network: A frozen up to hidden state i, an affine stitch applied per token, B frozen from block j
onward, and a linear head on B's last layer mean-pooled over real tokens. Only the stitch and the head train.

Both frozen models run their own forward, so every family with a part map works without family code: A stops at
hidden state i by a hook that raises once that state exists, and B's block j gets the stitched states through a
forward pre-hook that swaps its hidden-states input (positional or keyword). B's own masks, positions and final
norm then apply as usual. Hooks live only inside context managers that remove them in `finally`, and only on
private copies of the models, never on the shared instances other trials read.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from embedxfer.heads import pool
from embedxfer.parts import layer_modules

if TYPE_CHECKING:
    from embedxfer.experiments.stitching.states import StateTable


class _Reached(Exception):
    """Raised from a hook to end A's forward as soon as the wanted hidden state exists (the blocks above it would
    only cost time)."""

    def __init__(self, states: torch.Tensor) -> None:
        super().__init__("hidden state reached")
        self.states = states


def _hidden_input(args: tuple, kwargs: dict[str, Any]) -> torch.Tensor:
    return kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]


def _first(output: Any) -> torch.Tensor:
    """A block's hidden states, whether it returns a tensor (recent decoders) or a tuple (bert, gpt2)."""
    return output[0] if isinstance(output, tuple | list) else output


@contextmanager
def _stop_at(model: nn.Module, i: int) -> Iterator[None]:
    """While open, a forward of `model` raises _Reached with hidden state i (0 = the input of block 0, the
    embedding output; k = the output of block k-1) for i below the model's depth."""
    blocks = layer_modules(model)

    def before_first(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        raise _Reached(_hidden_input(args, kwargs))

    def after(module: nn.Module, args: tuple, output: Any) -> None:
        raise _Reached(_first(output))

    if i == 0:
        handle = blocks[0].register_forward_pre_hook(before_first, with_kwargs=True)
    else:
        handle = blocks[i - 1].register_forward_hook(after)
    try:
        yield
    finally:
        handle.remove()


def hidden_state(model: nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor, i: int) -> torch.Tensor:
    """Hidden state i of `model` as `output_hidden_states` numbers them, (batch, seq, hidden); the last one is the
    model's last_hidden_state (after a decoder's final norm), the others stop the forward early."""
    if i == len(layer_modules(model)):
        return model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
    with _stop_at(model, i):
        try:
            model(input_ids=input_ids, attention_mask=attention_mask)
        except _Reached as reached:
            return reached.states
    raise RuntimeError(f"the forward of {type(model).__name__} never reached block {i}")


@contextmanager
def block_input_replaced(model: nn.Module, j: int, states: torch.Tensor) -> Iterator[None]:
    """While open, block j of `model` runs on `states` instead of what the blocks below it computed."""

    def swap(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]]:
        original = _hidden_input(args, kwargs)
        if original.shape != states.shape:
            raise RuntimeError(
                f"block {j} expects hidden states of shape {tuple(original.shape)}, got {tuple(states.shape)}"
            )
        new = states.to(original.dtype)
        if "hidden_states" in kwargs:
            return args, {**kwargs, "hidden_states": new}
        return (new, *args[1:]), kwargs

    handle = layer_modules(model)[j].register_forward_pre_hook(swap, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()


class StitchedModel(nn.Module):
    """A[:i] -> stitch -> B[j:] -> mean pool -> head; `i=None` is B alone (its own last layer, no A), `stitch=None`
    passes A's states on unchanged (the identity condition, where A is B and i = j). With `a_states`, A's states
    come from that table instead of a forward of A.

    A and B are held outside the module tree (`frozen`), so `.train()`, `.to()` and the optimizer never see them:
    they stay frozen and in eval mode (no dropout inside a frozen network), on the device the caller put them on.
    """

    def __init__(
        self,
        a: nn.Module | None,
        b: nn.Module,
        *,
        i: int | None,
        j: int,
        stitch: nn.Linear | None,
        head: nn.Linear,
        a_states: StateTable | None = None,
    ) -> None:
        super().__init__()
        self.frozen = (a, b)
        self.a_states = a_states
        self.i, self.j = i, j
        self.layers_b = len(layer_modules(b))
        self.stitch = stitch
        self.head = head

    def features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """B's last layer pooled over real tokens, (batch, hidden_B), with A's states stitched in at block j."""
        a, b = self.frozen
        if self.i is None:
            with torch.no_grad():
                last = b(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return pool(last, attention_mask, "mean")
        if self.a_states is not None:
            states = self.a_states.batch(input_ids, attention_mask)  # (batch, seq, hidden_A), computed once
        else:
            with torch.no_grad():
                states = hidden_state(a, input_ids, attention_mask, self.i)  # (batch, seq, hidden_A)
        if self.stitch is not None:
            states = self.stitch(states)  # (batch, seq, hidden_B), per token
        if self.j == self.layers_b:
            last = states  # the stitch output is B's last hidden state: no block of B runs
        else:
            with block_input_replaced(b, self.j, states):
                last = b(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool(last, attention_mask, "mean")

    def forward(self, input_ids=None, attention_mask=None, inputs=None) -> torch.Tensor:
        """Logits from token ids, or from precomputed pooled features `inputs` (batch, 1, hidden_B) when nothing
        below the head trains (the engine's vector batches)."""
        pooled = inputs[:, 0] if inputs is not None else self.features(input_ids, attention_mask)
        logits = self.head(pooled)
        return logits.squeeze(-1) if logits.shape[-1] == 1 else logits


def linear_map(weight: torch.Tensor, bias: torch.Tensor, *, trainable: bool) -> nn.Linear:
    """An nn.Linear holding weight (out, in) and bias (out), float32."""
    layer = nn.Linear(weight.shape[1], weight.shape[0])
    with torch.no_grad():
        layer.weight.copy_(weight.float())
        layer.bias.copy_(bias.float())
    layer.requires_grad_(trainable)
    return layer


@torch.no_grad()
def pooled_features(model: StitchedModel, split: Any, *, batch_size: int, device: torch.device) -> np.ndarray:
    """(N, 1, hidden_B) float32 features of every example of an encoded split, in split order."""
    from embedxfer.data import batch_order, collate

    out: np.ndarray | None = None
    for indices in batch_order(split.lengths(), batch_size, shuffle=False, seed=0):
        batch = collate(split, indices)
        found = model.features(batch["input_ids"].to(device), batch["attention_mask"].to(device)).float().cpu()
        if out is None:
            out = np.zeros((len(split), 1, found.shape[-1]), dtype=np.float32)
        out[indices, 0] = found.numpy()
    assert out is not None, "an encoded split with no examples"
    return out
