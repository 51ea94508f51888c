"""Safe, shared loading of checkpoints: one instance per checkpoint per process, guarded by locks.

Background workers call `load_checkpoint` concurrently, so each checkpoint gets its own lock
(two workers asking for the same model wait for one load; different models load in parallel).
Weights load from safetensors; pickle (`.bin`) files only with explicit permission and always
through `torch.load(weights_only=True)`; remote code never runs unless asked for.
"""

from __future__ import annotations

import copy
import logging
import threading
from pathlib import Path
from typing import Any, NamedTuple

from embedxfer.checkpoints.arch import arch_info, arch_info_for, check_model_type
from embedxfer.checkpoints.files import folder_stamp, local_folder, pickle_refused, pickle_trusted, weight_files
from embedxfer.checkpoints.info import ArchInfo, read_json, tensor_names
from embedxfer.checkpoints.resolve import RANDOM_INIT_SEED, Resolved, check_model_folder, resolve_id
from embedxfer.errors import CheckpointError

logger = logging.getLogger("embedxfer.checkpoints")

_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer_config.json")


class LoadedCheckpoint(NamedTuple):
    model: Any  # transformers base model (BertModel / LlamaModel / GPT2Model), eval mode, float32, CPU
    tokenizer: Any
    info: ArchInfo


_LOCK = threading.Lock()
_LOADED: dict[tuple, LoadedCheckpoint] = {}
_NEEDS_PICKLE: dict[tuple, bool] = {}
_KEY_LOCKS: dict[tuple, threading.Lock] = {}
_TOKENIZERS: dict[tuple, Any] = {}


def load_checkpoint(
    checkpoint_id: str, *, trust_remote_code: bool = False, allow_pickle: bool = False
) -> LoadedCheckpoint:
    """The shared (model, tokenizer, info) of a checkpoint; callers that change weights must use fresh_model."""
    resolved = resolve_id(checkpoint_id)
    allow_pickle = allow_pickle or pickle_trusted(resolved.key)
    key = (resolved.key, folder_stamp(resolved))
    with _LOCK:
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:
        with _LOCK:
            hit = _LOADED.get(key)
        if hit is not None:
            # Permission is checked per call: a model loaded once with allow_pickle stays guarded for others.
            if _NEEDS_PICKLE.get(key) and not allow_pickle:
                raise pickle_refused(resolved.key)
            return hit
        loaded, needs_pickle = _load_uncached(resolved, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
        with _LOCK:
            _LOADED[key] = loaded
            _NEEDS_PICKLE[key] = needs_pickle
    return loaded


def fresh_model(checkpoint_id: str, *, trust_remote_code: bool = False, allow_pickle: bool = False) -> LoadedCheckpoint:
    """Like load_checkpoint, but with a private deep copy of the model that the caller may train."""
    shared = load_checkpoint(checkpoint_id, trust_remote_code=trust_remote_code, allow_pickle=allow_pickle)
    return LoadedCheckpoint(copy.deepcopy(shared.model), shared.tokenizer, shared.info)


def load_tokenizer(checkpoint_id: str, *, trust_remote_code: bool = False) -> Any:
    """The checkpoint's tokenizer alone (shared, like the model): the one of a loaded model when there is one, else
    read from the folder without loading any weights."""
    resolved = resolve_id(checkpoint_id)
    key = (resolved.key, folder_stamp(resolved))
    with _LOCK:
        hit = _LOADED.get(key)
        tokenizer = hit.tokenizer if hit is not None else _TOKENIZERS.get(key)
    if tokenizer is not None:
        return tokenizer
    folder = local_folder(resolved, allow_pickle=False, trust_remote_code=trust_remote_code)
    tokenizer = _tokenizer(folder, resolved.key, trust_remote_code)
    with _LOCK:
        return _TOKENIZERS.setdefault(key, tokenizer)


def clear_loaded() -> None:
    """Forget every shared model (frees memory; the next load reads the files again)."""
    with _LOCK:
        _LOADED.clear()
        _NEEDS_PICKLE.clear()
        _TOKENIZERS.clear()
        # _KEY_LOCKS stays: a load in progress keeps its lock, so no second copy of that model can start.


def _load_uncached(resolved: Resolved, *, trust_remote_code: bool, allow_pickle: bool) -> tuple[LoadedCheckpoint, bool]:
    folder = local_folder(resolved, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    shown = resolved.key
    config = check_model_folder(folder, shown)
    check_model_type(config, shown, trust_remote_code=trust_remote_code)
    if resolved.kind == "random":
        model = _random_model(folder, shown, trust_remote_code)
        tokenizer = _tokenizer(folder, shown, trust_remote_code)
        return LoadedCheckpoint(model, tokenizer, arch_info(resolved.key)), False
    kind, files = weight_files(folder)
    if kind == "none":
        raise CheckpointError(
            f"Folder {shown} has a config.json but no weights (model.safetensors or pytorch_model.bin); "
            "save the model with save_pretrained."
        )
    if kind == "pickle" and not allow_pickle:
        raise pickle_refused(shown)
    if not any((folder / name).is_file() for name in _TOKENIZER_FILES) and not any(folder.glob("*.model")):
        raise CheckpointError(
            f"Folder {shown} has no tokenizer files; save the tokenizer there with tokenizer.save_pretrained."
        )
    extra: dict[str, Any] = {}
    if kind == "safetensors":
        names = tensor_names(files)  # also rejects corrupt / truncated files with a clear sentence
        # Sentence encoders (and the ONNX rebuild) ship no pooler: do not invent a random one.
        if config.get("model_type") == "bert" and not any(n.endswith("pooler.dense.weight") for n in names):
            extra["add_pooling_layer"] = False
    model = _from_pretrained(folder, shown, kind, trust_remote_code, extra)
    tokenizer = _tokenizer(folder, shown, trust_remote_code)
    info = arch_info_for(resolved, folder, trust_remote_code=trust_remote_code)
    logger.debug("loaded %s (%d parameters)", shown, info.num_parameters)
    return LoadedCheckpoint(model, tokenizer, info), kind == "pickle"


def _from_pretrained(folder: Path, shown: str, kind: str, trust_remote_code: bool, extra: dict) -> Any:
    import torch
    from transformers import AutoModel

    try:
        model, loading = AutoModel.from_pretrained(
            str(folder),
            dtype=torch.float32,
            use_safetensors=kind == "safetensors",
            weights_only=True,
            trust_remote_code=trust_remote_code,
            output_loading_info=True,
            **extra,
        )
    except Exception as exc:
        raise _load_error(shown, exc) from exc
    all_missing = list(loading.get("missing_keys", []))
    missing = [k for k in all_missing if not k.startswith("pooler.")]
    if getattr(model, "pooler", None) is not None and len(missing) < len(all_missing):
        model.pooler = None  # pickle checkpoints without a pooler: drop the randomly initialised one
    if missing:
        logger.warning("checkpoint %s lacks %d weights (left random), e.g. %s", shown, len(missing), missing[0])
    if getattr(model.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
        # An encoder-decoder (t5) serves through its encoder: hidden states of the input text, one per block, and
        # the token table it shares with the decoder; the decoder needs target tokens no experiment here has.
        model = model.get_encoder()
    return model.float().eval()


def _random_model(folder: Path, shown: str, trust_remote_code: bool) -> Any:
    """The architecture of the folder's config with freshly drawn weights: the same draw every time (its own seed,
    leaving the caller's random state alone)."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_INIT_SEED)
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise _load_error(shown, exc) from exc
    if getattr(model.config, "is_encoder_decoder", False) and hasattr(model, "get_encoder"):
        model = model.get_encoder()  # as for the trained twin (_from_pretrained)
    return model.float().eval()


def _tokenizer(folder: Path, shown: str, trust_remote_code: bool) -> Any:
    from transformers import AutoTokenizer

    # transformers 4.57.6 warns that every local folder saved by a newer 4.57 has "an incorrect regex pattern" (a
    # check meant for Mistral tokenizers); the fix is only for those, so other families say no to it.
    config = read_json(folder / "config.json", "model config") if (folder / "config.json").is_file() else {}
    mistral = str(config.get("model_type", "")) in ("mistral", "mistral3", "voxtral", "ministral", "pixtral")
    extra = {} if mistral else {"fix_mistral_regex": False}
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), trust_remote_code=trust_remote_code, **extra)
    except Exception as exc:
        raise _load_error(shown, exc, what="tokenizer") from exc
    # Experiments pad batches; decoder tokenizers often ship without a pad token.
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_error(shown: str, exc: Exception, what: str = "model") -> CheckpointError:
    text = str(exc)
    if "trust_remote_code" in text:
        return CheckpointError(
            f"Checkpoint {shown} needs custom code from its folder; pass trust_remote_code=True only if you trust it."
        )
    if type(exc).__name__ == "SafetensorError" or "safetensors" in text.lower() and "header" in text.lower():
        return CheckpointError(f"Weight file of {shown} is corrupt or truncated; re-save or re-download it.")
    first = text.strip().splitlines()[0][:200] if text.strip() else ""
    return CheckpointError(f"Cannot load the {what} of {shown} ({type(exc).__name__}: {first}).")
