"""The attention view: after a `pretrained` trial, the attention maps of its first few test examples (a fixed set,
the same for every seed), one (heads, query, key) map per layer, stored as an npz artifact. The paper inspected
these for Bit XOR: whether the frozen heads of an output token look at the two input bits it must combine.

Arrays in the artifact: `maps` float32 (examples, layers, heads, seq, seq), rows summing to 1 (heads averaged to
one when the full array would exceed `MAX_VALUES`: then heads = 1); `inputs` the examples as fed (vectors or ids);
`labels`; `output_tokens` (how many last tokens the head reads).
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import torch

from embedxfer.paths import write_atomic

ARTIFACT = "attention.npz"
MAX_VALUES = 1_000_000


@contextlib.contextmanager
def _eager_attention(backbone):
    """Models on the attention-function interface (llama, gpt2) return weights only in eager mode; bert falls back
    to its manual path by itself. The implementation is restored afterwards."""
    import transformers

    before = backbone.config._attn_implementation
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # bert's "falling back to the manual implementation" notice
    try:
        with contextlib.suppress(ValueError, AttributeError):
            backbone.set_attn_implementation("eager")
        yield
    finally:
        with contextlib.suppress(ValueError, AttributeError):
            backbone.set_attn_implementation(before)
        transformers.logging.set_verbosity(verbosity)


@torch.no_grad()
def attention_maps(model, inputs: torch.Tensor, attention_mask: torch.Tensor | None) -> np.ndarray:
    """(examples, layers, heads, seq, seq) attention weights of `model`'s backbone on a batch (eval mode)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    if inputs.dtype == torch.long:
        embeds = model.embed(input_ids=inputs.to(device))
    else:
        embeds = model.embed(inputs=inputs.to(device))
    if attention_mask is None:
        attention_mask = torch.ones(embeds.shape[:2], dtype=torch.long)
    with _eager_attention(model.backbone):
        out = model.backbone(inputs_embeds=embeds, attention_mask=attention_mask.to(device), output_attentions=True)
    model.train(was_training)
    if not out.attentions or out.attentions[0] is None:
        raise RuntimeError(f"{type(model.backbone).__name__} returned no attention weights")
    return torch.stack([a.float().cpu() for a in out.attentions], dim=1).numpy()


def store_attention(model, task, examples: int, ctx) -> None:
    """Write the maps of the first `examples` test examples into the trial's artifacts."""
    if ctx.artifact_dir is None:
        return
    ctx.report({"phase": "attention maps"})
    split = task.test.take(np.arange(min(examples, len(task.test.labels))))
    inputs = torch.from_numpy(np.ascontiguousarray(split.inputs))
    mask = None
    if split.lengths is not None:
        mask = (torch.arange(inputs.shape[1])[None, :] < torch.from_numpy(np.asarray(split.lengths))[:, None]).long()
    maps = attention_maps(model, inputs, mask)
    if maps.size > MAX_VALUES:
        maps = maps.mean(axis=2, keepdims=True)
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        maps=maps.astype(np.float32),
        inputs=np.asarray(split.inputs),
        labels=np.asarray(split.labels),
        output_tokens=np.array(task.output_tokens),
    )
    write_atomic(ctx.artifact_dir / ARTIFACT, buffer.getvalue())


def read_attention(raw: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(raw)) as stored:
        return {name: stored[name] for name in stored.files}
