"""Architecture facts about a checkpoint, read from files without loading any weights.

Everything here works on plain JSON (config.json, tokenizer.json) and on safetensors headers,
so listing checkpoints in the CLI or a page never imports torch or transformers.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from embedxfer.errors import CheckpointError

# model_types whose base model is a causal (left-to-right) decoder.
CAUSAL_MODEL_TYPES = {
    "llama",
    "gpt2",
    "gpt_neo",
    "gpt_neox",
    "gptj",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen3",
    "phi",
    "phi3",
    "gemma",
    "gemma2",
    "gemma3_text",
    "opt",
    "falcon",
    "bloom",
    "olmo",
    "olmo2",
    "stablelm",
    "starcoder2",
    "smollm3",
    "granite",
    "codegen",
}
# Tensors saved next to parameters that are buffers, not parameters (they must not be counted).
_BUFFER_SUFFIXES = (".position_ids", ".token_type_ids", ".inv_freq", ".attn.bias", ".attn.masked_bias")
# Prefixes of task heads that AutoModel (the base model) does not load.
_HEAD_PREFIXES = ("cls.", "classifier.", "lm_head.", "qa_outputs.", "score.", "pre_classifier.", "heads.")
# The largest safetensors header we accept; real ones are a few hundred KiB.
_MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class ArchInfo:
    """What a checkpoint is: family, sizes, tokenizer and parameter count of its base model."""

    id: str
    family: str
    model_type: str
    num_layers: int
    hidden_size: int
    num_heads: int
    ffn_size: int
    vocab_size: int
    tokenizer_kind: str
    cased: bool
    max_positions: int | None
    num_parameters: int
    source: str
    is_causal: bool
    #: an encoder-decoder (t5): embedxfer uses its encoder stack (num_layers counts the encoder's blocks)
    is_encoder_decoder: bool = False
    #: the token table's width where it is narrower than the blocks and projected up (electra, albert: the config's
    #: embedding_size; opt-350m: word_embed_proj_dim); None when the table is hidden_size wide
    embedding_size: int | None = None

    @property
    def table_width(self) -> int:
        """Width of the token table (get_input_embeddings), which the token-table kinds read."""
        return self.embedding_size or self.hidden_size

    def to_dict(self) -> dict:
        return asdict(self)


def same_vocabulary(a: ArchInfo, b: ArchInfo) -> bool:
    """Likely the same vocabulary: equal size, tokenizer kind and casing."""
    return a.vocab_size == b.vocab_size and a.tokenizer_kind == b.tokenizer_kind and a.cased == b.cased


@dataclass(frozen=True)
class CheckpointEntry:
    """One row of the checkpoint catalog."""

    id: str
    description: str
    source: str
    available: bool
    reason: str = ""


def read_json(path: Path, what: str) -> dict[str, Any]:
    """Read a JSON object, turning unreadable files into a CheckpointError that names `what`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Cannot read {what} {path}: it is not valid JSON ({type(exc).__name__}).") from exc
    if not isinstance(data, dict):
        raise CheckpointError(f"Cannot read {what} {path}: expected a JSON object.")
    return data


def _first(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return None


def is_causal_config(config: dict[str, Any]) -> bool:
    archs = config.get("architectures") or []
    return (
        config.get("model_type") in CAUSAL_MODEL_TYPES
        or bool(config.get("is_decoder"))
        or any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs)
    )


def arch_from_config(
    config: dict[str, Any],
    *,
    checkpoint_id: str,
    source: str,
    num_parameters: int,
    tokenizer_kind: str,
    cased: bool,
) -> ArchInfo:
    """Build an ArchInfo from a config.json dict (key names differ per family, e.g. GPT-2's n_embd)."""
    model_type = str(config.get("model_type") or "unknown")
    hidden = _first(config, "hidden_size", "n_embd", "d_model", "dim")
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers", "n_layers")
    heads = _first(config, "num_attention_heads", "n_head", "num_heads", "n_heads")
    vocab = _first(config, "vocab_size")
    if None in (hidden, layers, heads, vocab):
        raise CheckpointError(
            f"config.json of {checkpoint_id} lacks the size fields embedxfer needs "
            "(hidden_size, num_hidden_layers, num_attention_heads, vocab_size)."
        )
    # GPT-2 stores n_inner=None to mean 4 x width.
    ffn = _first(config, "intermediate_size", "n_inner", "ffn_dim", "hidden_dim", "d_ff") or 4 * int(hidden)
    return ArchInfo(
        id=checkpoint_id,
        family=model_type,
        model_type=model_type,
        num_layers=int(layers),
        hidden_size=int(hidden),
        num_heads=int(heads),
        ffn_size=int(ffn),
        vocab_size=int(vocab),
        tokenizer_kind=tokenizer_kind,
        cased=cased,
        max_positions=_optional_int(_first(config, "max_position_embeddings", "n_positions", "n_ctx")),
        num_parameters=int(num_parameters),
        source=source,
        is_causal=is_causal_config(config),
        is_encoder_decoder=bool(config.get("is_encoder_decoder")),
        embedding_size=_table_width(config, int(hidden)),
    )


def _table_width(config: dict[str, Any], hidden: int) -> int | None:
    """The token table's own width when a projection separates it from the blocks (None: it is `hidden` wide)."""
    width = _first(config, "embedding_size", "word_embed_proj_dim")
    return int(width) if width is not None and int(width) != hidden else None


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


# --- tokenizer kind and casing -------------------------------------------------------------------------------------


def _mentions_type(node: Any, type_name: str) -> bool:
    """Whether a tokenizers JSON component (possibly a Sequence) contains a step of `type_name`."""
    if isinstance(node, dict):
        return node.get("type") == type_name or any(_mentions_type(v, type_name) for v in node.values())
    if isinstance(node, list):
        return any(_mentions_type(v, type_name) for v in node)
    return False


def _lowercases(normalizer: Any) -> bool:
    if isinstance(normalizer, dict):
        if normalizer.get("type") == "Lowercase" or (
            normalizer.get("type") == "BertNormalizer" and normalizer.get("lowercase")
        ):
            return True
        return any(_lowercases(v) for v in normalizer.values())
    if isinstance(normalizer, list):
        return any(_lowercases(v) for v in normalizer)
    return False


def tokenizer_traits(folder: Path) -> tuple[str, bool]:
    """(tokenizer_kind, cased) of the tokenizer files in `folder`, read from JSON only."""
    tok_config: dict[str, Any] = {}
    if (folder / "tokenizer_config.json").is_file():
        try:
            tok_config = read_json(folder / "tokenizer_config.json", "tokenizer config")
        except CheckpointError:
            tok_config = {}
    lower_flag = tok_config.get("do_lower_case")
    if (folder / "tokenizer.json").is_file():
        try:
            spec = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            spec = {}
        model = spec.get("model") or {}
        kind = {"WordPiece": "wordpiece", "Unigram": "sentencepiece"}.get(model.get("type"), "unknown")
        if model.get("type") == "BPE":
            if any(_mentions_type(spec.get(part), "ByteLevel") for part in ("pre_tokenizer", "decoder")):
                kind = "byte-bpe"
            elif model.get("byte_fallback") or _mentions_type(spec.get("pre_tokenizer"), "Metaspace"):
                kind = "sentencepiece"  # Llama-2 style: sentencepiece BPE exported to tokenizers
            else:
                kind = "bpe"
        uncased = _lowercases(spec.get("normalizer")) or bool(lower_flag)
        return kind, not uncased
    if (folder / "vocab.txt").is_file():
        return "wordpiece", not (lower_flag if lower_flag is not None else True)
    if (folder / "vocab.json").is_file() and (folder / "merges.txt").is_file():
        return "byte-bpe", not bool(lower_flag)
    if any(folder.glob("*.model")):
        return "sentencepiece", not bool(lower_flag)
    return "unknown", True


# --- safetensors headers ---------------------------------------------------------------------------------------------


def read_safetensors_header(path: Path) -> dict[str, Any]:
    """The tensor table of a safetensors file; CheckpointError if the file is corrupt or truncated."""
    corrupt = f"Weight file {path} is corrupt or truncated; re-save or re-download the checkpoint."
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise CheckpointError(corrupt)
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > min(size - 8, _MAX_HEADER_BYTES):
                raise CheckpointError(corrupt)
            header = json.loads(fh.read(header_len))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, struct.error) as exc:
        raise CheckpointError(corrupt) from exc
    if not isinstance(header, dict):
        raise CheckpointError(corrupt)
    header.pop("__metadata__", None)
    data_len = size - 8 - header_len
    try:
        ends = [int(entry["data_offsets"][1]) for entry in header.values()]
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(corrupt) from exc
    # The data section must hold exactly the tensors the header promises.
    if (max(ends) if ends else 0) != data_len:
        raise CheckpointError(corrupt)
    return header


def count_parameters_from_headers(files: list[Path]) -> int | None:
    """Base-model parameter count from safetensors headers, or None when the files hold a task head too."""
    total = 0
    for path in files:
        for name, entry in read_safetensors_header(path).items():
            if name.startswith(_HEAD_PREFIXES):
                return None
            if name.endswith(_BUFFER_SUFFIXES) or not str(entry.get("dtype", "F")).startswith(("F", "BF")):
                continue
            total += math.prod(int(d) for d in entry["shape"])
    return total


def tensor_names(files: list[Path]) -> set[str]:
    names: set[str] = set()
    for path in files:
        names.update(read_safetensors_header(path))
    return names
