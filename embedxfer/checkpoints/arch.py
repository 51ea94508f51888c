"""Architecture facts (`ArchInfo`) of any checkpoint, read from its files without loading weights, and cached.

Reading them is cheap for a plain folder (config.json and safetensors headers) but not for the bundled ONNX and
GGUF files (smollm2's GGUF metadata takes seconds), so results are kept in memory and on disk under
``<cache>/arch-info/``, keyed by the checkpoint id and a stamp (path, size, modification time) of the files
they were read from: a rewritten folder or an upgraded package is read again.

Only the families embedxfer maps parts for (bert, llama, gpt2) are accepted; any other `model_type` is refused
here, when a checkpoint is first looked at, rather than when a run starts.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import threading
from pathlib import Path

from embedxfer import paths
from embedxfer.checkpoints.bundled import locate
from embedxfer.checkpoints.files import folder_stamp, local_folder, weight_files
from embedxfer.checkpoints.info import (
    ArchInfo,
    arch_from_config,
    count_parameters_from_headers,
    read_json,
    tokenizer_traits,
)
from embedxfer.checkpoints.resolve import (
    Resolved,
    cached_bundled_folder,
    check_model_folder,
    random_base,
    resolve_id,
)
from embedxfer.errors import CheckpointError

_LOCK = threading.Lock()
_INFO: dict[tuple, ArchInfo] = {}
_KEY_LOCKS: dict[tuple, threading.Lock] = {}
#: Bump when ArchInfo gains a field or a reader changes, so cached entries are read again.
_DISK_VERSION = 1
_TOKENIZER_STAMP_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")


def arch_info(checkpoint_id: str, *, trust_remote_code: bool = False) -> ArchInfo:
    """Architecture facts of a checkpoint, read from its files (bundled ones are not converted for this)."""
    resolved = resolve_id(checkpoint_id)
    key = (resolved.key, folder_stamp(resolved))
    hit = _known(resolved, key)
    if hit is not None:
        return hit
    with _LOCK:
        key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
    with key_lock:  # one read per checkpoint: concurrent callers (pages, the warmer, workers) wait for it
        hit = _known(resolved, key)
        if hit is not None:
            return hit
        if resolved.kind == "random":  # its twin's architecture under its own id
            twin = arch_info(random_base(resolved).key, trust_remote_code=trust_remote_code)
            info = dataclasses.replace(twin, id=resolved.key, source=resolved.source)
        elif resolved.kind == "bundled":
            info = _bundled_info(resolved)
        else:
            folder = local_folder(resolved, allow_pickle=False, trust_remote_code=trust_remote_code)
            info = _folder_info(resolved, folder, trust_remote_code)
        disk_key = _disk_key(resolved)
        if disk_key:
            _write_disk(disk_key, info)
        with _LOCK:
            _INFO[key] = info
    return info


def _known(resolved: Resolved, key: tuple) -> ArchInfo | None:
    """The ArchInfo already read for `key`: from memory, else from the disk cache (then kept in memory too)."""
    with _LOCK:
        hit = _INFO.get(key)
    if hit is not None:
        return hit
    disk_key = _disk_key(resolved)
    info = _read_disk(disk_key) if disk_key else None
    if info is not None:
        with _LOCK:
            _INFO[key] = info
    return info


def arch_info_for(resolved: Resolved, folder: Path, *, trust_remote_code: bool = False) -> ArchInfo:
    """ArchInfo of an already available folder (used right after loading)."""
    key = (resolved.key, folder_stamp(resolved))
    with _LOCK:
        hit = _INFO.get(key)
    if hit is None:
        hit = _folder_info(resolved, folder, trust_remote_code)
        with _LOCK:
            _INFO[key] = hit
    return hit


def _folder_info(resolved: Resolved, folder: Path, trust_remote_code: bool) -> ArchInfo:
    config = check_model_folder(folder, resolved.key)
    check_model_type(config, resolved.key, trust_remote_code=trust_remote_code)
    kind, files = weight_files(folder)
    if kind == "none":
        raise CheckpointError(
            f"Folder {resolved.key} has a config.json but no weights (model.safetensors or pytorch_model.bin); "
            "save the model with save_pretrained."
        )
    count = count_parameters_from_headers(files) if kind == "safetensors" else None
    if count is None:
        count = _count_on_meta_device(folder, trust_remote_code)
    tok_kind, cased = tokenizer_traits(folder)
    return arch_from_config(
        config,
        checkpoint_id=resolved.key,
        source=resolved.source,
        num_parameters=count,
        tokenizer_kind=tok_kind,
        cased=cased,
    )


def _count_on_meta_device(folder: Path, trust_remote_code: bool) -> int:
    """Exact base-model parameter count from the config alone: build the model on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModel

    try:
        config = AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        with torch.device("meta"):
            model = AutoModel.from_config(config, trust_remote_code=trust_remote_code)
    except Exception as exc:
        raise CheckpointError(
            f"Cannot build the architecture of {folder} from its config.json ({type(exc).__name__})."
        ) from exc
    return sum(p.numel() for p in model.parameters())


def _bundled_info(resolved: Resolved) -> ArchInfo:
    folder = cached_bundled_folder(resolved.key)
    if folder is not None:
        return _folder_info(resolved, folder, False)
    return bundled_source_info(resolved)


def bundled_source_info(resolved: Resolved) -> ArchInfo:
    """ArchInfo of minilm-l3 / smollm2-135m read from the ONNX graph / GGUF metadata (no conversion)."""
    source = locate(resolved.key)
    if resolved.key == "minilm-l3":
        from embedxfer.checkpoints import onnx_import

        tok_folder = locate("minilm-l6")
        weights, graph = onnx_import.read_bert_weights(source)
        config = onnx_import.bert_config(weights, graph, read_json(tok_folder / "config.json", "model config"))
        count = onnx_import.count_parameters(weights)
        tok_kind, cased = tokenizer_traits(tok_folder)
    else:
        from embedxfer.checkpoints import gguf_import

        summary = gguf_import.gguf_summary(source)
        config, count = summary["config"], summary["num_parameters"]
        tok_kind = {"gpt2": "byte-bpe", "llama": "sentencepiece"}.get(summary["tokenizer_model"], "unknown")
        cased = True
    return arch_from_config(
        config,
        checkpoint_id=resolved.key,
        source=resolved.source,
        num_parameters=count,
        tokenizer_kind=tok_kind,
        cased=cased,
    )


def check_model_type(config: dict, shown: str, *, trust_remote_code: bool = False) -> None:
    """CheckpointError when transformers cannot build a config.json's model without running code from the folder.

    Any family the installed transformers knows is accepted here: the kinds that only read hidden states or the
    token table take every one of them; kinds that need parts by name check the family themselves (each kind's
    `checkpoint_rule`, shown per checkpoint in the catalog)."""
    model_type = str(config.get("model_type") or "")
    if model_type and (_ships_module(model_type) or model_type in _known_model_types()):
        return
    if trust_remote_code:
        return
    what = f"model_type {model_type!r}" if model_type else "no model_type"
    if config.get("auto_map"):
        raise CheckpointError(
            f"Checkpoint {shown} has {what}, which the installed transformers does not know: its config.json points to "
            "Python code in the folder. Loading it means running that code (trust_remote_code), which embedxfer "
            "never does on its own; use a checkpoint of a family transformers ships."
        )
    raise CheckpointError(
        f"Checkpoint {shown} has {what} in its config.json, which the installed transformers "
        f"({_transformers_version()}) does not know; pick a checkpoint of a family transformers ships."
    )


@functools.cache
def _ships_module(model_type: str) -> bool:
    """Fast path: transformers keeps each family in `models/<model_type, - as _>/`; finding the folder imports
    nothing (the full mapping below costs seconds and imports torch, too slow for listing a catalog)."""
    import importlib.util

    spec = importlib.util.find_spec("transformers")
    if spec is None or spec.origin is None:
        return False
    return (Path(spec.origin).parent / "models" / model_type.replace("-", "_") / "__init__.py").is_file()


@functools.cache
def _known_model_types() -> frozenset[str]:
    """Every model_type of the installed transformers (authoritative, slow: for names the fast path misses)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return frozenset(CONFIG_MAPPING_NAMES)


def _transformers_version() -> str:
    from importlib.metadata import version

    return f"transformers {version('transformers')}"


# --- the disk cache --------------------------------------------------------------------------------------------------


def _file_stamp(path: Path) -> list:
    try:
        stat = path.stat()
    except OSError:
        return [str(path), None, None]
    return [str(path), stat.st_size, stat.st_mtime_ns]


def _disk_key(resolved: Resolved) -> str | None:
    """A file name that changes whenever the files an ArchInfo is read from change (None: not cached on disk)."""
    if resolved.kind == "bundled":
        source = locate(resolved.key)
        files = weight_files(source)[1] + [source / "config.json"] if source.is_dir() else [source]
        if resolved.key == "minilm-l3":  # its tokenizer facts come from minilm-l6's folder
            files.append(locate("minilm-l6") / "tokenizer.json")
    elif resolved.kind == "folder":
        folder = Path(resolved.key)
        files = [folder / "config.json", *weight_files(folder)[1], *(folder / n for n in _TOKENIZER_STAMP_FILES)]
    else:
        return None  # hub folders live in the Hugging Face cache, which keeps its own revisions
    stamp = json.dumps([_DISK_VERSION, resolved.key, [_file_stamp(p) for p in files]])
    return hashlib.sha256(stamp.encode()).hexdigest()[:24] + ".json"


def _read_disk(name: str) -> ArchInfo | None:
    path = paths.cache_dir("arch-info") / name
    try:
        return ArchInfo(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):  # missing, half-written by an old version, or a changed ArchInfo
        return None


def _write_disk(name: str, info: ArchInfo) -> None:
    try:
        paths.write_atomic(paths.cache_dir("arch-info") / name, json.dumps(info.to_dict()))
    except OSError:
        pass  # the cache is an optimisation; a read-only cache folder must not break listing checkpoints


def known_arch_info(checkpoint_id: str) -> ArchInfo | None:
    """The ArchInfo of a checkpoint if it was read before (in memory or on disk): nothing is read, converted or
    downloaded. None when it was not, or when the id itself is bad (`arch_info` then says why)."""
    try:
        resolved = resolve_id(checkpoint_id)
        return _known(resolved, (resolved.key, folder_stamp(resolved)))
    except CheckpointError:
        return None
