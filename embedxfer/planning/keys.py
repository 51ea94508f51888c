"""A trial's key: what identifies it before it runs (kind, condition, params, seed, embedxfer version) and what
it turned out to depend on (the config fields, checkpoints, tasks and user files it read, with their values,
weights fingerprints and content hashes). A finished trial is reused for a new one with the same identity whose
dependencies still have the same values (docs/architecture.md, "Reuse and estimates").
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from embedxfer import __version__
from embedxfer.planning.recorder import TrialReads
from embedxfer.trials import TrialSpec

#: Config fields that never make a trial different: which device ran it is recorded on the trial (and its
#: numerics, bf16 or fp32, in its metrics), not part of what the trial is, so moving a run from CPU to GPU reuses
#: what finished; `--fresh` runs it again.
NOT_IDENTITY = frozenset({"device"})


def identity_key(kind: str, spec: TrialSpec, version: str = __version__) -> str:
    """sha256 (32 hex) of what a trial is before it runs: kind, condition, params, seed and embedxfer version."""
    text = json.dumps(
        {"kind": kind, "condition": spec.condition, "seed": int(spec.seed), "params": spec.params, "version": version},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def field_value(config: Any, name: str) -> str:
    """A config field's value as canonical JSON (what a dependency on it compares)."""
    return json.dumps(object.__getattribute__(config, name), sort_keys=True, default=str)


def checkpoint_identity(checkpoint_id: str) -> str:
    from embedxfer.checkpoints import checkpoint_fingerprint

    return checkpoint_fingerprint(checkpoint_id)


def task_identity(name: str, options: dict[str, Any]) -> str:
    from embedxfer.tasks import load_task

    return load_task(name, **options).content_hash()


def file_identity(path: str) -> str:
    """sha256 (16 hex) of a file, or of a folder's files (names and bytes, in name order): what a trial that read
    it depends on, and part of module_porting's origin cache key."""
    target = Path(path).expanduser()
    files = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(target) if target.is_dir() else file.name).encode() + b"\0")
        digest.update(file.read_bytes())
    return digest.hexdigest()[:16]


def dependencies(config: Any, reads: TrialReads) -> dict[str, Any] | None:
    """What a finished trial depended on, with the values it saw: {"fields": {name: json}, "checkpoints": {id:
    fingerprint}, "tasks": {key: {"name", "options", "hash"}}}. None when a checkpoint or task can no longer be
    identified here (a hub model not in the local cache, a file gone): such a trial is never reused."""
    from embedxfer.errors import EmbedxferError

    try:
        return {
            "fields": {name: field_value(config, name) for name in sorted(reads.fields - NOT_IDENTITY)},
            "checkpoints": {cid: checkpoint_identity(cid) for cid in sorted(reads.checkpoints)},
            "tasks": {
                key: {"name": name, "options": options, "hash": task_identity(name, options)}
                for key, (name, options) in sorted(reads.tasks.items())
            },
            "files": {path: file_identity(path) for path in sorted(reads.files)},
        }
    except (EmbedxferError, OSError):
        return None


class Identities:
    """Fingerprints and task hashes computed at most once per lookup (None: cannot be identified now)."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, str], str | None] = {}

    def checkpoint(self, checkpoint_id: str) -> str | None:
        return self._get(("checkpoint", checkpoint_id), lambda: checkpoint_identity(checkpoint_id))

    def task(self, name: str, options: dict[str, Any]) -> str | None:
        key = json.dumps([name, options], sort_keys=True, default=str)
        return self._get(("task", key), lambda: task_identity(name, options))

    def file(self, path: str) -> str | None:
        return self._get(("file", path), lambda: file_identity(path))

    def _get(self, key: tuple[str, str], compute: Callable[[], str]) -> str | None:
        if key not in self._memo:
            from embedxfer.errors import EmbedxferError

            try:
                self._memo[key] = compute()
            except (EmbedxferError, OSError, ValueError):
                self._memo[key] = None
        return self._memo[key]


def still_holds(deps: dict[str, Any], config: Any, identities: Identities) -> bool:
    """Whether every dependency a finished trial recorded has the same value for `config` today."""
    for name, value in deps.get("fields", {}).items():
        if not hasattr(config, name) or field_value(config, name) != value:
            return False
    for checkpoint_id, fingerprint in deps.get("checkpoints", {}).items():
        if identities.checkpoint(checkpoint_id) != fingerprint:
            return False
    for task in deps.get("tasks", {}).values():
        if identities.task(task["name"], task["options"]) != task["hash"]:
            return False
    return all(identities.file(path) == digest for path, digest in deps.get("files", {}).items())
