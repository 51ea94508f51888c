"""Checkpoints: the bundled catalog, architecture info and safe, shared loading.

Ids are a bundled name (`minilm-l6`, `minilm-l3`, `smollm2-135m`), a local Hugging Face folder
path, or `hub:org/name`. Importing this package is cheap: torch and transformers are imported
only when a model is loaded or converted.

    load_checkpoint(id)        shared (model, tokenizer, info); do not change its weights
    fresh_model(id)            the same with a private copy of the model, for training
    load_tokenizer(id)         the tokenizer alone (no weights read)
    arch_info(id)              ArchInfo from config files, without loading weights (cached on disk)
    known_arch_info(id)        the same if already read, else None (reads nothing)
    checkpoint_fingerprint(id) 16-hex sha256 of the weight files
"""

from embedxfer.checkpoints.arch import arch_info, known_arch_info
from embedxfer.checkpoints.bundled import BUNDLED
from embedxfer.checkpoints.catalog import checkpoint_fingerprint, list_checkpoints
from embedxfer.checkpoints.info import ArchInfo, CheckpointEntry
from embedxfer.checkpoints.loading import LoadedCheckpoint, clear_loaded, fresh_model, load_checkpoint, load_tokenizer

BUNDLED_IDS: tuple[str, ...] = tuple(BUNDLED)

__all__ = [
    "BUNDLED_IDS",
    "ArchInfo",
    "CheckpointEntry",
    "LoadedCheckpoint",
    "arch_info",
    "checkpoint_fingerprint",
    "clear_loaded",
    "fresh_model",
    "known_arch_info",
    "list_checkpoints",
    "load_checkpoint",
    "load_tokenizer",
]
