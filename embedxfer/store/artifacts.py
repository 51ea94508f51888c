"""Artifact files of trials: ``<root>/artifacts/<trial_id>/<name>``, written atomically.

Curves, projections and module weights live next to the SQLite store. Writes go through a temp file
in the same folder and `os.replace`, so a reader (the dashboard) never sees half a file and a crash
leaves the previous version intact. Names are plain file names, so nothing escapes the folder.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Literal

from embedxfer.errors import StoreError
from embedxfer.paths import write_atomic

__all__ = ["ArtifactStore", "write_atomic"]

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,199}$")


class ArtifactStore:
    """Artifact folders under ``self.root / "artifacts"`` (a mixin of `embedxfer.store.Store`)."""

    root: Path

    @property
    def artifacts_root(self) -> Path:
        return self.root / "artifacts"

    def artifact_dir(self, trial_id: str, *, create: bool = True) -> Path:
        """The trial's artifact folder, ``artifacts/<trial_id>/``."""
        if not _SAFE_NAME.match(trial_id):
            raise StoreError(f"{trial_id!r} is not a valid trial id.")
        folder = self.artifacts_root / trial_id
        if create:
            folder.mkdir(parents=True, exist_ok=True)
        return folder

    def _artifact_path(self, trial_id: str, name: str, *, create: bool) -> Path:
        if not _SAFE_NAME.match(name):
            raise StoreError(f"Artifact name {name!r} must be a plain file name (letters, digits, . _ -).")
        return self.artifact_dir(trial_id, create=create) / name

    def write_artifact(self, trial_id: str, name: str, data: bytes | str | dict | list) -> Path:
        """Write an artifact atomically (dict/list as JSON, str as UTF-8); returns its path."""
        return write_atomic(self._artifact_path(trial_id, name, create=True), data)

    def read_artifact(self, trial_id: str, name: str, *, mode: Literal["bytes", "text", "json"] = "bytes") -> Any:
        path = self._artifact_path(trial_id, name, create=False)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"Trial {trial_id} has no artifact {name!r}.") from None
        if mode == "bytes":
            return data
        text = data.decode("utf-8")
        return json.loads(text) if mode == "json" else text

    def list_artifacts(self, trial_id: str) -> list[str]:
        folder = self.artifact_dir(trial_id, create=False)
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
