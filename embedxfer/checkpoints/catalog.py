"""Catalog, architecture info and content fingerprints, all without loading weights where possible."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from embedxfer.checkpoints.bundled import BUNDLED, availability, locate
from embedxfer.checkpoints.info import (
    ArchInfo,
    CheckpointEntry,
    arch_from_config,
    count_parameters_from_headers,
    read_json,
    tokenizer_traits,
)
from embedxfer.checkpoints.loading import folder_stamp, local_folder, weight_files
from embedxfer.checkpoints.resolve import Resolved, cached_bundled_folder, check_model_folder, resolve_id
from embedxfer.errors import CheckpointError

_LOCK = threading.Lock()
_INFO: dict[tuple, ArchInfo] = {}
_HASHES: dict[tuple, str] = {}


def list_checkpoints() -> list[CheckpointEntry]:
    """The bundled checkpoints, with whether their pip packages are installed."""
    entries = []
    for entry in BUNDLED.values():
        available, reason = availability(entry.id)
        entries.append(CheckpointEntry(entry.id, entry.description, entry.source, available, reason))
    return entries


def arch_info(checkpoint_id: str, *, trust_remote_code: bool = False) -> ArchInfo:
    """Architecture facts of a checkpoint, read from its files (bundled ones are not converted for this)."""
    resolved = resolve_id(checkpoint_id)
    key = (resolved.key, folder_stamp(resolved))
    with _LOCK:
        hit = _INFO.get(key)
    if hit is not None:
        return hit
    if resolved.kind == "bundled":
        info = _bundled_info(resolved)
    else:
        folder = local_folder(resolved, allow_pickle=False, trust_remote_code=trust_remote_code)
        info = _folder_info(resolved, folder, trust_remote_code)
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
        config, checkpoint_id=resolved.key, source=resolved.source, num_parameters=count,
        tokenizer_kind=tok_kind, cased=cased,
    )  # fmt: skip


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
        config, checkpoint_id=resolved.key, source=resolved.source, num_parameters=count,
        tokenizer_kind=tok_kind, cased=cased,
    )  # fmt: skip


def checkpoint_fingerprint(checkpoint_id: str) -> str:
    """sha256 (16 hex chars) over the checkpoint's weight files; bundled ones hash their pip-installed source."""
    resolved = resolve_id(checkpoint_id)
    if resolved.kind == "bundled":
        files = [locate(resolved.key)]
        if files[0].is_dir():
            files = weight_files(files[0])[1]
    else:
        folder = local_folder(resolved, allow_pickle=False, trust_remote_code=False)
        check_model_folder(folder, resolved.key)
        files = weight_files(folder)[1]
        if not files:
            raise CheckpointError(f"Folder {resolved.key} has no weight files to fingerprint.")
    return _hash_files(files)


def _hash_files(files: list[Path]) -> str:
    stamp = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    with _LOCK:
        hit = _HASHES.get(stamp)
    if hit is not None:
        return hit
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: p.name):
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 22):
                digest.update(chunk)
    result = digest.hexdigest()[:16]
    with _LOCK:
        _HASHES[stamp] = result
    return result
