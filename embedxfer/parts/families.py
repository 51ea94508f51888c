"""The family table: where each model family keeps each canonical part (see embedxfer/parts/resolve.py for the
names and the functions that resolve them). One `FamilySpec` per family; families that share a layout reuse one."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FamilySpec:
    """Where one family keeps each part. Paths are dotted module paths; absent optional ones are skipped."""

    name: str
    #: ModuleList of transformer blocks, relative to the backbone
    layers: str
    #: parts before the blocks (embed.*), path relative to the backbone
    embed: dict[str, str]
    #: block parts ("attn", "mlp", "norm") -> module paths relative to one block
    block: dict[str, tuple[str, ...]]
    #: parts after the blocks (final_norm, pooler), path relative to the backbone
    top: dict[str, str]
    #: why a canonical part is missing in this family, for the error message
    missing_hint: dict[str, str]
    #: an encoder-decoder's second ModuleList of blocks (t5's decoder), named `decoder.layers.<i>.*`
    decoder_layers: str = ""
    #: the layout of one stack on its own, for an encoder-decoder: embedxfer loads t5 as its encoder stack
    #: (checkpoints/loading.py), a library user may pass the whole model
    stack: FamilySpec | None = None


FAMILIES: dict[str, FamilySpec] = {
    "bert": FamilySpec(
        name="bert",
        layers="encoder.layer",
        embed={
            "embed.tokens": "embeddings.word_embeddings",
            "embed.positions": "embeddings.position_embeddings",
            "embed.types": "embeddings.token_type_embeddings",
            "embed.norm": "embeddings.LayerNorm",
        },
        # cross-attention only exists in decoder configs; listed so such models stay fully covered
        block={
            "attn": ("attention.self", "attention.output.dense", "crossattention.self", "crossattention.output.dense"),
            "mlp": ("intermediate.dense", "output.dense"),
            "norm": ("attention.output.LayerNorm", "crossattention.output.LayerNorm", "output.LayerNorm"),
        },
        top={"pooler": "pooler"},
        missing_hint={"final_norm": "bert normalizes inside each layer and has no final norm"},
    ),
    "llama": FamilySpec(
        name="llama",
        layers="layers",
        embed={"embed.tokens": "embed_tokens"},
        block={"attn": ("self_attn",), "mlp": ("mlp",), "norm": ("input_layernorm", "post_attention_layernorm")},
        top={"final_norm": "norm"},
        missing_hint={
            "embed.positions": "llama encodes positions with rotary embeddings, which have no weights",
            "embed.types": "llama has no token-type embeddings",
        },
    ),
    "gpt2": FamilySpec(
        name="gpt2",
        layers="h",
        embed={"embed.tokens": "wte", "embed.positions": "wpe"},
        block={"attn": ("attn", "crossattention"), "mlp": ("mlp",), "norm": ("ln_1", "ln_cross_attn", "ln_2")},
        top={"final_norm": "ln_f"},
        missing_hint={"embed.types": "gpt2 has no token-type embeddings"},
    ),
}

_BERT_LIKE = FAMILIES["bert"]
_ROTARY = {
    "embed.positions": "this family encodes positions with rotary embeddings, which have no weights",
    "embed.types": "this family has no token-type embeddings",
}


def _decoder(name: str, norms: tuple[str, ...], final_norm: str = "norm", **paths: str) -> FamilySpec:
    """A llama-style decoder (`layers`, `embed_tokens`, `self_attn`, `mlp`) with its own norm names."""
    return FamilySpec(
        name=name,
        layers=paths.get("layers", "layers"),
        embed={"embed.tokens": paths.get("tokens", "embed_tokens")},
        block={"attn": (paths.get("attn", "self_attn"),), "mlp": (paths.get("mlp", "mlp"),), "norm": norms},
        top={"final_norm": final_norm},
        missing_hint=_ROTARY,
    )


# Families that share bert's module names (their own attention classes live at the same paths); electra adds a
# projection from a narrower embedding when its embedding_size differs from the width.
for _name in ("roberta", "xlm-roberta", "electra"):
    FAMILIES[_name] = FamilySpec(
        name=_name,
        layers=_BERT_LIKE.layers,
        embed={**_BERT_LIKE.embed, **({"embed.proj": "embeddings_project"} if _name == "electra" else {})},
        block=_BERT_LIKE.block,
        top={"pooler": "pooler"},
        missing_hint={"final_norm": f"{_name} normalizes inside each layer and has no final norm"},
    )
FAMILIES["distilbert"] = FamilySpec(
    name="distilbert",
    layers="transformer.layer",
    embed={
        "embed.tokens": "embeddings.word_embeddings",
        "embed.positions": "embeddings.position_embeddings",
        "embed.norm": "embeddings.LayerNorm",
    },
    block={"attn": ("attention",), "mlp": ("ffn",), "norm": ("sa_layer_norm", "output_layer_norm")},
    top={},
    missing_hint={
        "embed.types": "distilbert has no token-type embeddings",
        "final_norm": "distilbert normalizes inside each layer and has no final norm",
        "pooler": "distilbert has no pooler",
    },
)
FAMILIES["modernbert"] = FamilySpec(
    name="modernbert",
    layers="layers",
    embed={"embed.tokens": "embeddings.tok_embeddings", "embed.norm": "embeddings.norm"},
    block={"attn": ("attn",), "mlp": ("mlp",), "norm": ("attn_norm", "mlp_norm")},
    top={"final_norm": "final_norm"},
    missing_hint=_ROTARY,
)
FAMILIES["gpt_neox"] = _decoder(
    "gpt_neox",
    ("input_layernorm", "post_attention_layernorm"),
    final_norm="final_layer_norm",
    tokens="embed_in",
    attn="attention",
)
FAMILIES["opt"] = FamilySpec(
    name="opt",
    layers="decoder.layers",
    embed={
        "embed.tokens": "decoder.embed_tokens",
        "embed.positions": "decoder.embed_positions",
        "embed.proj": "decoder.project_in",
    },
    block={"attn": ("self_attn",), "mlp": ("fc1", "fc2"), "norm": ("self_attn_layer_norm", "final_layer_norm")},
    top={"final_norm": "decoder.final_layer_norm", "out_proj": "decoder.project_out"},
    missing_hint={"embed.types": "opt has no token-type embeddings"},
)
for _name in ("mistral", "qwen2", "qwen3", "gemma", "olmo", "phi3"):
    FAMILIES[_name] = _decoder(_name, ("input_layernorm", "post_attention_layernorm"))
# gemma2 and gemma3 norm before and after both attention and feed-forward; gemma3 adds query/key norms inside the
# attention (part of layers.<i>.attn)
for _name in ("gemma2", "gemma3_text"):
    FAMILIES[_name] = _decoder(
        _name,
        ("input_layernorm", "post_attention_layernorm", "pre_feedforward_layernorm", "post_feedforward_layernorm"),
    )
FAMILIES["phi"] = _decoder("phi", ("input_layernorm",), final_norm="final_layernorm")
# deberta-v2 (and v3) keeps bert's block layout. Its relative-position table and that table's norm sit in the
# encoder and serve every block; xlarge models add a convolution beside the first block's output.
FAMILIES["deberta-v2"] = FamilySpec(
    name="deberta-v2",
    layers=_BERT_LIKE.layers,
    embed={
        **_BERT_LIKE.embed,
        "embed.proj": "embeddings.embed_proj",
        "embed.relative_positions": "encoder.rel_embeddings",
        "embed.relative_norm": "encoder.LayerNorm",
    },
    block=_BERT_LIKE.block,
    top={"conv": "encoder.conv"},
    missing_hint={
        "embed.positions": "this deberta-v2 model encodes positions only relatively (embed.relative_positions)",
        "embed.types": "this deberta-v2 model has no token-type embeddings",
        "final_norm": "deberta-v2 normalizes inside each layer and has no final norm",
        "pooler": "deberta-v2's base model has no pooler",
    },
)
# t5 blocks are lists of sublayers: self-attention, then (decoder only) cross-attention, then the feed-forward, each
# with its own norm. Paths absent from a block are skipped, so one table serves both stacks.
_T5_BLOCK = {
    "attn": ("layer.0.SelfAttention", "layer.1.EncDecAttention"),
    "mlp": ("layer.1.DenseReluDense", "layer.2.DenseReluDense"),
    "norm": ("layer.0.layer_norm", "layer.1.layer_norm", "layer.2.layer_norm"),
}
_T5_HINTS = {
    "embed.positions": "t5 encodes positions as a learned relative attention bias inside block 0's attention "
    "(layers.0.attn)",
    "embed.types": "t5 has no token-type embeddings",
    "embed.norm": "t5 does not normalize its embeddings",
}
FAMILIES["t5"] = FamilySpec(
    name="t5",
    layers="encoder.block",
    decoder_layers="decoder.block",
    embed={"embed.tokens": "shared"},
    block=_T5_BLOCK,
    top={"final_norm": "encoder.final_layer_norm", "decoder.final_norm": "decoder.final_layer_norm"},
    missing_hint=_T5_HINTS,
    stack=FamilySpec(
        name="t5",
        layers="block",
        embed={"embed.tokens": "embed_tokens"},
        block=_T5_BLOCK,
        top={"final_norm": "final_layer_norm"},
        missing_hint={**_T5_HINTS, "decoder.final_norm": "this is one t5 stack, not the whole encoder-decoder"},
    ),
)

#: families embedxfer can load but will not map parts for, and why (shown where a parts-by-name kind is refused)
UNMAPPED_REASONS = {
    "albert": "albert shares one set of block weights across all its layers, so a single layer cannot be "
    "reinitialized, frozen or ported on its own",
}
