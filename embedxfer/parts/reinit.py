"""Partial reinitialization of transformer blocks (Tamkin et al. 2020, arXiv 2004.14975, section 3).

Reinitializing a block replaces every weight matrix of its attention and feed-forward parts
(bert: Q, K, V, attention output, intermediate, output; llama: q/k/v/o, gate/up/down; gpt2: the
Conv1D c_attn, c_proj, c_fc, c_proj). Biases keep their pretrained values unless `reinit_bias`
(then zero), norms go back to weight 1 / bias 0 unless `keep_layernorm`, and embeddings, the final
norm and the pooler are never touched.

Init choices:
- "normal-0.02": N(0, 0.02), what the paper describes (BERT's own initializer range).
- "paper-code": what the paper's code does, `scipy.stats.truncnorm(-2*0.02, 2*0.02, scale=0.02)`.
  scipy reads the bounds in units of `scale`, so it draws a standard normal truncated to
  [-0.04, 0.04] and multiplies by 0.02: weights within +-0.0008, std ~4.6e-4 (about 43x smaller
  than intended). We sample it exactly by inverse CDF, without scipy.
- "module-default": each nn.Linear's own `reset_parameters()` (kaiming-uniform). gpt2's Conv1D has
  no such method; its constructor draws N(0, 0.02), so that is what it gets.

With a seed, every block draws from its own generator seeded by (seed, block index): block 5
gets the same weights whether it is reinitialized alone or together with blocks 6..11.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from embedxfer.errors import PartError
from embedxfer.parts.resolve import family_of, layer_modules, part_members

if TYPE_CHECKING:
    import torch
    from torch import nn

INITS = ("normal-0.02", "paper-code", "module-default")
_STD = 0.02
#: scipy's truncnorm bounds a and b are in units of scale: the paper's call truncates N(0, 1) at +-0.04
_PAPER_BOUND = 2 * 0.02


def _check_layers(model: nn.Module, layers: int | Iterable[int]) -> list[int]:
    count = len(layer_modules(model))
    indices = [layers] if isinstance(layers, int) else list(layers)
    for index in indices:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise PartError(
                f"Layer index {index!r} is out of range: this {family_of(model)} model has {count} layers, "
                f"so valid indices are 0 to {count - 1}."
            )
    return sorted(set(indices))


def _block_seed(seed: int, index: int) -> int:
    """A well-mixed 63-bit seed for one block, so neighbouring (seed, index) pairs give unrelated streams."""
    import numpy as np

    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _draw(shape: torch.Size, init: str, generator: torch.Generator | None) -> torch.Tensor:
    """New weight values on the CPU (so a seed gives the same weights on every device)."""
    import torch

    if init == "paper-code":
        # inverse-CDF sampling of N(0, 1) truncated to [-b, b], in float64 so ndtri stays exact near the centre
        bound = torch.tensor(_PAPER_BOUND, dtype=torch.float64)
        low, high = torch.special.ndtr(-bound), torch.special.ndtr(bound)
        uniform = torch.rand(shape, dtype=torch.float64, generator=generator)
        values = torch.special.ndtri(low + uniform * (high - low)).clamp_(-_PAPER_BOUND, _PAPER_BOUND)
        return (values * _STD).float()
    return torch.empty(shape, dtype=torch.float32).normal_(0.0, _STD, generator=generator)


@contextmanager
def _seeded_global_rng(seed: int | None, block: nn.Module) -> Iterator[None]:
    """Seed the global RNGs that reset_parameters() uses, restoring them afterwards."""
    import torch

    if seed is None:
        yield
        return
    cuda = sorted({p.device.index or 0 for p in block.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda):
        torch.random.default_generator.manual_seed(seed)
        for device in cuda:
            with torch.cuda.device(device):
                torch.cuda.manual_seed(seed)
        yield


def _weight_modules(members: list[tuple[str, nn.Module]]) -> list[nn.Module]:
    """nn.Linear and gpt2 Conv1D modules inside the given part members, in module order."""
    from torch import nn
    from transformers.pytorch_utils import Conv1D

    found: list[nn.Module] = []
    for _, member in members:
        found += [m for m in member.modules() if isinstance(m, nn.Linear | Conv1D)]
    return found


def _reinit_block(
    members: dict[str, list[tuple[str, nn.Module]]],
    init: str,
    reinit_bias: bool,
    keep_layernorm: bool,
    seed: int | None,
) -> None:
    """Reinitialize one block given its attn/mlp/norm part members (under torch.no_grad)."""
    import torch
    from torch import nn

    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    for module in _weight_modules(members["attn"] + members["mlp"]):
        bias = getattr(module, "bias", None)
        saved = bias.detach().clone() if bias is not None else None
        if init == "module-default" and isinstance(module, nn.Linear):
            module.reset_parameters()  # also redraws the bias; restored below
        elif init == "module-default":
            module.weight.normal_(0.0, _STD)  # Conv1D's constructor init; seeded by _seeded_global_rng
        else:
            module.weight.copy_(_draw(module.weight.shape, init, generator))
        if bias is not None and reinit_bias:
            bias.zero_()
        elif bias is not None:
            bias.copy_(saved)
    if not keep_layernorm:
        for _, norm in members["norm"]:
            for name, param in norm.named_parameters():
                # LayerNorm weight/bias and RMSNorm weight: the identity transform
                param.fill_(1.0 if name.rsplit(".", 1)[-1] == "weight" else 0.0)


def reinit_layers(
    model: nn.Module,
    layers: int | Iterable[int],
    *,
    init: str = "normal-0.02",
    keep_layernorm: bool = False,
    reinit_bias: bool = False,
    seed: int | None = None,
) -> None:
    """Reinitialize blocks `layers` of `model` in place (see the module docstring for the exact semantics).

    Without a seed the global torch RNG is used, so `torch.manual_seed` makes the call reproducible.
    """
    import torch

    if init not in INITS:
        raise PartError(f"Unknown init {init!r}; choose one of {', '.join(INITS)}.")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise PartError(f"The reinit seed must be a non-negative integer or None, not {seed!r}.")
    indices = _check_layers(model, layers)
    blocks = layer_modules(model)
    with torch.no_grad():
        for index in indices:
            members = {kind: part_members(model, f"layers.{index}.{kind}") for kind in ("attn", "mlp", "norm")}
            block_seed = _block_seed(seed, index) if seed is not None else None
            with _seeded_global_rng(block_seed if init == "module-default" else None, blocks[index]):
                _reinit_block(members, init, reinit_bias, keep_layernorm, block_seed)


def reinit_embeddings(
    model: nn.Module, *, init: str = "normal-0.02", keep_layernorm: bool = False, seed: int | None = None
) -> None:
    """Reinitialize the embedding parts (`embed.tokens`, `embed.positions`, `embed.types`) with `init`, and reset
    `embed.norm` unless `keep_layernorm`. `module-default` uses nn.Embedding's own reset: N(0, 1), which is what
    the module does, not a scale a pretrained stack expects. Seeded draws use the stream of block index -1."""
    import torch
    from torch import nn

    if init not in INITS:
        raise PartError(f"Unknown init {init!r}; choose one of {', '.join(INITS)}.")
    generator = torch.Generator().manual_seed(_block_seed(seed, 2**31)) if seed is not None else None
    with torch.no_grad():
        for name in ("embed.tokens", "embed.positions", "embed.types"):
            for _, member in part_members(model, name):
                for module in member.modules():
                    if not isinstance(module, nn.Embedding):
                        continue
                    if init == "module-default":
                        with _seeded_global_rng(_block_seed(seed, 2**31) if seed is not None else None, module):
                            module.reset_parameters()
                    else:
                        module.weight.copy_(_draw(module.weight.shape, init, generator))
        if not keep_layernorm:
            for _, norm in part_members(model, "embed.norm"):
                for pname, param in norm.named_parameters():
                    param.fill_(1.0 if pname.rsplit(".", 1)[-1] == "weight" else 0.0)
