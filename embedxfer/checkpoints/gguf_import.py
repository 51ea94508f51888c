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

# GGUF architecture names that transformers calls otherwise (a gemma3 GGUF holds the text model only).
_MODEL_TYPES = {"gemma3": "gemma3_text"}
# GGUF tensors that belong to a language-model head rather than the base model.
_HEAD_TENSORS = {"output.weight"}
# llama.cpp pre-tokenizer names whose regex first splits every digit on its own.
_DIGIT_SPLIT_PRE = {"smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b"}
_SPECIAL_TOKEN_TYPE = 3  # llama.cpp "control" tokens
_NORMAL_TOKEN_TYPE, _USER_TOKEN_TYPE = 1, 4  # llama.cpp "normal" and "user defined" tokens


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
        "model_type": _MODEL_TYPES.get(arch, arch),
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
    """A PreTrainedTokenizerFast equivalent to the GGUF's tokenizer: byte-level BPE (gpt2-style: smollm2) or
    SentencePiece BPE with byte fallback (llama-style: gemma3)."""
    from transformers import PreTrainedTokenizerFast

    reader = _reader(path)
    kind = _field(reader, "tokenizer.ggml.model")
    if kind not in ("gpt2", "llama"):
        raise CheckpointError(
            f"GGUF file {path} has a tokenizer type embedxfer cannot rebuild ({kind}; it rebuilds byte-level and "
            "SentencePiece BPE)."
        )
    tokens: list[str] = _field(reader, "tokenizer.ggml.tokens")
    token_types = _field(reader, "tokenizer.ggml.token_type") or [_NORMAL_TOKEN_TYPE] * len(tokens)
    backend = _byte_level_bpe(reader, tokens) if kind == "gpt2" else _sentencepiece_bpe(reader, tokens, token_types)

    def token(key: str) -> str | None:
        idx = _field(reader, f"tokenizer.ggml.{key}")
        return tokens[int(idx)] if idx is not None and 0 <= int(idx) < len(tokens) else None

    specials = [t for t, kind in zip(tokens, token_types, strict=False) if kind == _SPECIAL_TOKEN_TYPE]
    bos, eos = token("bos_token_id"), token("eos_token_id")
    if bos is not None and _field(reader, "tokenizer.ggml.add_bos_token"):
        from tokenizers import processors

        bos_id = tokens.index(bos)
        backend.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, bos_id)]
        )
    named = {bos, eos, token("unknown_token_id")}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token=eos,
        unk_token=token("unknown_token_id"),
        pad_token=token("padding_token_id") or eos,
        # a SentencePiece vocabulary marks thousands of control pieces (gemma's <unusedN>); the backend already holds
        # them as special added tokens, so only a byte-level vocabulary's few are listed here
        additional_special_tokens=[t for t in specials if t not in named] if kind == "gpt2" else [],
        model_max_length=int(_field(reader, f"{_field(reader, 'general.architecture')}.context_length") or 2048),
        clean_up_tokenization_spaces=False,
    )
    template = _field(reader, "tokenizer.chat_template")
    if template:
        tokenizer.chat_template = template
    return tokenizer


def _byte_level_bpe(reader: Any, tokens: list[str]) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    merges = [tuple(m.split(" ", 1)) for m in _field(reader, "tokenizer.ggml.merges")]
    backend = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    if _field(reader, "tokenizer.ggml.pre") in _DIGIT_SPLIT_PRE:
        backend.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
    else:
        backend.pre_tokenizer = byte_level
    backend.decoder = decoders.ByteLevel()
    return backend


def _sentencepiece_bpe(reader: Any, tokens: list[str], token_types: list[int]) -> Any:
    """SentencePiece BPE from the GGUF vocabulary: it stores no merges, only each piece's score (higher merges
    first), so the merges are every split of a normal piece into two normal pieces, ordered by the merged piece's
    score. Spaces become '▁'; unknown bytes fall back to <0xNN> pieces. (transformers 4.57 builds a Unigram
    tokenizer from such a file, which splits words differently from the model's own tokenizer.)"""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers

    scores = _field(reader, "tokenizer.ggml.scores") or [-float(i) for i in range(len(tokens))]
    vocab = {t: i for i, t in enumerate(tokens)}
    normal = {t for t, kind in zip(tokens, token_types, strict=True) if kind == _NORMAL_TOKEN_TYPE}
    ranked = []
    for piece in normal:
        splits = [(piece[:k], piece[k:]) for k in range(1, len(piece)) if piece[:k] in normal and piece[k:] in normal]
        splits.sort(key=lambda pair: (vocab[pair[0]], vocab[pair[1]]))
        ranked += [(-scores[vocab[piece]], vocab[piece], left, right) for left, right in splits]
    ranked.sort(key=lambda merge: merge[:2])
    unk = _field(reader, "tokenizer.ggml.unknown_token_id")
    backend = Tokenizer(
        models.BPE(
            vocab=vocab,
            merges=[(left, right) for _, _, left, right in ranked],
            unk_token=tokens[int(unk)] if unk is not None else None,
            byte_fallback=True,
            fuse_unk=True,
        )
    )
    if _field(reader, "tokenizer.ggml.add_space_prefix"):
        backend.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    else:
        backend.normalizer = normalizers.Replace(" ", "▁")
    backend.pre_tokenizer = pre_tokenizers.Split(" ", "merged_with_previous")
    backend.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    backend.add_tokens(
        [
            AddedToken(t, special=kind == _SPECIAL_TOKEN_TYPE, normalized=False)
            for t, kind in zip(tokens, token_types, strict=True)
            if kind in (_SPECIAL_TOKEN_TYPE, _USER_TOKEN_TYPE)
        ]
    )
    return backend


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
