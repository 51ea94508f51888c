"""GGUF (llama.cpp) checkpoints: architecture from the metadata, conversion to a float32 HF folder.

Weights are dequantized by transformers (`from_pretrained(..., gguf_file=...)`). The tokenizer is
built here from the GGUF vocabulary and merges instead: transformers 4.57's GGUF tokenizer path
for Llama models sets eos to the bos token and prepends a bos the file says not to add, which
would silently change every input sequence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from embedxfer.errors import CheckpointError

logger = logging.getLogger("embedxfer.checkpoints")

# GGUF tensors that belong to a language-model head rather than the base model.
_HEAD_TENSORS = {"output.weight"}
# llama.cpp pre-tokenizer names whose regex first splits every digit on its own.
_DIGIT_SPLIT_PRE = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"}
_SPECIAL_TOKEN_TYPE = 3  # llama.cpp "control" tokens


def _reader(path: Path) -> Any:
    from gguf import GGUFReader

    try:
        return GGUFReader(str(path))
    except Exception as exc:  # gguf raises ValueError/struct errors for damaged files
        raise CheckpointError(f"GGUF file {path} cannot be read ({type(exc).__name__}); reinstall it.") from exc


def _field(reader: Any, key: str, default: Any = None) -> Any:
    field = reader.fields.get(key)
    return default if field is None else field.contents()


def gguf_summary(path: Path) -> dict[str, Any]:
    """Config-like dict (HF key names) plus parameter count and tokenizer model, without dequantizing."""
    reader = _reader(path)
    arch = _field(reader, "general.architecture")
    if arch is None:
        raise CheckpointError(f"GGUF file {path} has no general.architecture entry.")
    tokens = _field(reader, "tokenizer.ggml.tokens") or []
    config = {
        "model_type": arch,
        "architectures": [],
        "num_hidden_layers": _field(reader, f"{arch}.block_count"),
        "hidden_size": _field(reader, f"{arch}.embedding_length"),
        "num_attention_heads": _field(reader, f"{arch}.attention.head_count"),
        "intermediate_size": _field(reader, f"{arch}.feed_forward_length"),
        "vocab_size": _field(reader, f"{arch}.vocab_size") or len(tokens),
        "max_position_embeddings": _field(reader, f"{arch}.context_length"),
    }
    params = sum(int(t.n_elements) for t in reader.tensors if t.name not in _HEAD_TENSORS)
    return {"config": config, "num_parameters": params, "tokenizer_model": _field(reader, "tokenizer.ggml.model")}


def build_tokenizer(path: Path) -> Any:
    """A PreTrainedTokenizerFast equivalent to the GGUF's byte-level BPE tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    reader = _reader(path)
    if _field(reader, "tokenizer.ggml.model") != "gpt2":
        raise CheckpointError(f"GGUF file {path} has a tokenizer type embedxfer cannot rebuild (only byte-level BPE).")
    tokens: list[str] = _field(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    token_types = _field(reader, "tokenizer.ggml.token_type") or [1] * len(tokens)
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if _field(reader, "tokenizer.ggml.pre") in _DIGIT_SPLIT_PRE:
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        backend.pre_tokenizer = byte_level
    backend.decoder = decoders.ByteLevel()

    def token(key: str) -> str | None:
        idx = _field(reader, f"tokenizer.ggml.{key}")
        return tokens[int(idx)] if idx is not None and 0 <= int(idx) < len(tokens) else None

    specials = [t for t, kind in zip(tokens, token_types, strict=False) if kind == _SPECIAL_TOKEN_TYPE]
    eos = token("eos_token_id")
    named = {token("bos_token_id"), eos, token("unknown_token_id")}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=token("bos_token_id"),
        eos_token=eos,
        unk_token=token("unknown_token_id"),
        pad_token=token("padding_token_id") or eos,
        additional_special_tokens=[t for t in specials if t not in named],
        model_max_length=int(_field(reader, f"{_field(reader, 'general.architecture')}.context_length") or 2048),
        clean_up_tokenization_spaces=False,
    )
    template = _field(reader, "tokenizer.chat_template")
    if template:
        tokenizer.chat_template = template
    return tokenizer


def convert_gguf(path: Path, out_dir: Path) -> None:
    """Dequantize `path` to float32 and save model + tokenizer as a HF safetensors folder in `out_dir`."""
    import torch
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoModel

    # transformers wraps the dequantization loop in a bare tqdm bar that would print to every CLI user's
    # terminal; conversions are rare and serialised per checkpoint, so swapping it out briefly is safe.
    bar = gguf_utils.tqdm
    gguf_utils.tqdm = lambda iterable, *args, **kwargs: iterable
    try:
        model = AutoModel.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    finally:
        gguf_utils.tqdm = bar
    model.save_pretrained(out_dir, safe_serialization=True)
    build_tokenizer(path).save_pretrained(out_dir)
