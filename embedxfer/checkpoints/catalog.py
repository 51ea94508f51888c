"""The catalog of bundled checkpoints, and content fingerprints of any checkpoint's weight files."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from embedxfer.checkpoints.bundled import BUNDLED, availability, locate
from embedxfer.checkpoints.files import local_folder, weight_files
from embedxfer.checkpoints.info import CheckpointEntry
from embedxfer.checkpoints.resolve import RANDOM_INIT_SEED, check_model_folder, random_base, resolve_id
from embedxfer.errors import CheckpointError

_LOCK = threading.Lock()
_HASHES: dict[tuple, str] = {}


def list_checkpoints() -> list[CheckpointEntry]:
    """The bundled checkpoints, with whether their pip packages are installed."""
    entries = []
    for entry in BUNDLED.values():
        available, reason = availability(entry.id)
        entries.append(CheckpointEntry(entry.id, entry.description, entry.source, available, reason))
    return entries


def checkpoint_fingerprint(checkpoint_id: str) -> str:
    """sha256 (16 hex chars) over the checkpoint's weight files; bundled ones hash their pip-installed source."""
    resolved = resolve_id(checkpoint_id)
    if resolved.kind == "random":
        base = checkpoint_fingerprint(random_base(resolved).key)
        return hashlib.sha256(f"random\0{RANDOM_INIT_SEED}\0{base}".encode()).hexdigest()[:16]
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
    digest = _hash_files(files)
    if resolved.kind == "hub" and "@" in resolved.key:
        # the revision is part of the identity too: every cache keyed by the fingerprint tells revisions apart
        # even where two revisions' files would hash alike
        digest = hashlib.sha256(f"{digest}\0{resolved.key}".encode()).hexdigest()[:16]
    return digest


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
