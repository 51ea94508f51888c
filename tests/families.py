"""Tiny random checkpoints of many model families, each built from its config class alone (no download).

`make_family_checkpoint(folder, model_type)` saves a hidden-32, 2-layer model of `model_type` with a tokenizer
beside it: the tiny wordpiece one for encoders and encoder-decoders, the tiny byte-level BPE one for decoders
(tests/conftest.py). One set of size arguments covers every family: each config reads the names it knows
(`hidden_size`, `n_embd`, `d_model`, `dim`, ...) and keeps the rest as plain attributes.
"""

from __future__ import annotations

from pathlib import Path

from conftest import _bert_tokenizer, _byte_bpe_tokenizer

ENCODERS = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "deberta-v2", "modernbert", "albert")
DECODERS = (
    "gpt2",
    "gpt_neox",
    "opt",
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "phi",
    "phi3",
    "olmo",
)
ENCODER_DECODERS = ("t5",)
FAMILIES = ENCODERS + DECODERS + ENCODER_DECODERS

HIDDEN, LAYERS, HEADS, FFN = 32, 2, 4, 64

#: settings a family's popular checkpoints use beyond its config class's defaults: deberta-v3's relative attention
#: (a relative-position table and its norm in the encoder, no absolute positions)
_AS_RELEASED = {
    "deberta-v2": {
        "relative_attention": True,
        "position_biased_input": False,
        "pos_att_type": ["p2c", "c2p"],
        "norm_rel_ebd": "layer_norm",
        "share_att_key": True,
        "position_buckets": 16,
    }
}


def _sizes(vocab: int) -> dict:
    return {
        "vocab_size": vocab,
        **dict.fromkeys(("hidden_size", "n_embd", "d_model", "dim", "embedding_size", "word_embed_proj_dim"), HIDDEN),
        **dict.fromkeys(("num_hidden_layers", "n_layer", "num_layers", "n_layers", "num_decoder_layers"), LAYERS),
        **dict.fromkeys(("num_attention_heads", "n_head", "num_heads", "n_heads"), HEADS),
        **dict.fromkeys(("intermediate_size", "d_ff", "ffn_dim", "hidden_dim", "n_inner"), FFN),
        "num_key_value_heads": 2,
        "head_dim": HIDDEN // HEADS,
        "d_kv": HIDDEN // HEADS,
        **dict.fromkeys(("max_position_embeddings", "n_positions", "n_ctx"), 64),
    }


def make_family_checkpoint(folder: Path, model_type: str, *, seed: int = 0, **overrides) -> Path:
    """Save a random tiny `model_type` model and its tokenizer into `folder` (created); `overrides` are config
    fields (e.g. electra's embedding_size)."""
    import torch
    from transformers import AutoConfig, AutoModel

    torch.manual_seed(seed)
    folder.mkdir(parents=True, exist_ok=True)
    if model_type in DECODERS:
        tokenizer = _byte_bpe_tokenizer()
        specials = dict.fromkeys(("pad_token_id", "bos_token_id", "eos_token_id"), tokenizer.pad_token_id)
    else:
        tokenizer = _bert_tokenizer(folder)
        specials = {
            "pad_token_id": tokenizer.pad_token_id,
            "bos_token_id": tokenizer.cls_token_id,
            "eos_token_id": tokenizer.sep_token_id,
            "cls_token_id": tokenizer.cls_token_id,
            "sep_token_id": tokenizer.sep_token_id,
            "decoder_start_token_id": tokenizer.pad_token_id,
        }
    settings = {**_sizes(len(tokenizer)), **specials, **_AS_RELEASED.get(model_type, {}), **overrides}
    config = AutoConfig.for_model(model_type, **settings)
    AutoModel.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
