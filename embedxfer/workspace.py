"""The user's own additions: checkpoints and data files registered from the dashboard.

They are kept in ``<home>/workspace.json`` so every browser tab, a restarted server and a second
process see the same list. ``EMBEDXFER_EXTRA_CHECKPOINTS`` (os.pathsep-separated folders or
``hub:org/name`` ids) adds checkpoints for the current process only, e.g. when a test or a demo
starts the app with a prepared folder. Registering validates through the checkpoints and tasks
packages first, so the list only ever holds entries that worked when they were added.

Uploaded data files are saved under ``<home>/uploads/`` and used through the ``file:`` task names
of `embedxfer.tasks` (``file:/path.csv?text=COL&label=COL``), so forms, configs and the CLI accept
them like any other task.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from embedxfer import paths
from embedxfer.errors import EmbedxferError, TaskError

ENV_EXTRA_CHECKPOINTS = "EMBEDXFER_EXTRA_CHECKPOINTS"
WORKSPACE_FILE = "workspace.json"
UPLOADS_DIR = "uploads"
#: Largest accepted upload; the Streamlit server limit (.streamlit/config.toml) is the same 50 MB.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
_UPLOAD_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".pq")
_LOCK = threading.Lock()


# --- the workspace file ----------------------------------------------------------------------------------------------


def workspace_path() -> Path:
    return paths.home() / WORKSPACE_FILE


def _read() -> dict[str, Any]:
    path = workspace_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"checkpoints": [], "tasks": []}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EmbedxferError(
            f"The workspace file {path} is unreadable ({type(exc).__name__}); fix it or delete it to start afresh."
        ) from None
    if not isinstance(data, dict):
        raise EmbedxferError(f"The workspace file {path} must hold a JSON object; fix it or delete it.")
    data.setdefault("checkpoints", [])
    data.setdefault("tasks", [])
    return data


def _write(data: dict[str, Any]) -> None:
    # temp file + os.replace: a reader in another tab or process never sees half a file
    path = workspace_path()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, indent=1)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- checkpoints -----------------------------------------------------------------------------------------------------


def env_checkpoints() -> list[str]:
    """Checkpoint ids from EMBEDXFER_EXTRA_CHECKPOINTS (not validated: a bad one fails where it is used)."""
    pieces = [item.strip() for item in os.environ.get(ENV_EXTRA_CHECKPOINTS, "").split(os.pathsep)]
    ids: list[str] = []
    for piece in pieces:
        # on POSIX the separator ":" also splits "hub:org/name"; glue the prefix back on
        if ids and ids[-1] == "hub" and os.pathsep == ":":
            ids[-1] = f"hub:{piece}"
        elif piece:
            ids.append(piece)
    return ids


def registered_checkpoints() -> list[str]:
    """Extra checkpoint ids: the environment's first, then the ones added in the dashboard."""
    ids = env_checkpoints() + [str(c) for c in _read()["checkpoints"]]
    return list(dict.fromkeys(ids))


def add_checkpoint(checkpoint_id: str):
    """Validate a local folder or hub id through `arch_info` and remember it; returns its ArchInfo.

    The stored id is the canonical one (a resolved folder path or ``hub:org/name``); bundled ids are
    always known and need no registration.
    """
    from embedxfer.checkpoints import BUNDLED_IDS, arch_info

    info = arch_info(str(checkpoint_id).strip())  # CheckpointError with a sentence for a bad id
    if info.id not in BUNDLED_IDS:
        with _LOCK:
            data = _read()
            if info.id not in data["checkpoints"]:
                data["checkpoints"].append(info.id)
                _write(data)
    return info


def remove_checkpoint(checkpoint_id: str) -> bool:
    """Forget a checkpoint added in the dashboard; returns whether it was there."""
    with _LOCK:
        data = _read()
        if checkpoint_id not in data["checkpoints"]:
            return False
        data["checkpoints"].remove(checkpoint_id)
        _write(data)
    return True


def known_checkpoint_ids() -> list[str]:
    """Ids to offer in forms: the bundled checkpoints whose packages are installed, then the extra ones."""
    from embedxfer.checkpoints import list_checkpoints

    bundled = [entry.id for entry in list_checkpoints() if entry.available]
    return list(dict.fromkeys(bundled + registered_checkpoints()))


# --- data files and tasks --------------------------------------------------------------------------------------------


def uploads_dir() -> Path:
    folder = paths.home() / UPLOADS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_upload(filename: str, data: bytes) -> Path:
    """Save uploaded bytes under ``<home>/uploads/`` with a safe, content-addressed name; returns the path."""
    suffix = Path(filename).suffix.lower()
    if suffix not in _UPLOAD_SUFFIXES:
        raise TaskError(f"Cannot use {filename!r}: upload a file ending in {', '.join(_UPLOAD_SUFFIXES)}.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise TaskError(
            f"{filename} is {len(data) / 2**20:.1f} MB; uploads are limited to {MAX_UPLOAD_BYTES // 2**20} MB."
        )
    if not data:
        raise TaskError(f"{filename} is empty; it needs a header and labelled rows.")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).stem).strip("._-")[:60] or "data"
    # the content hash keeps two different files with the same name apart, and makes re-uploads idempotent
    digest = hashlib.sha256(data).hexdigest()[:10]
    path = uploads_dir() / f"{stem}-{digest}{suffix}"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    return path


def file_task_name(path: str | os.PathLike, text_column: str, label_column: str, label_kind: str = "classes") -> str:
    """The ``file:`` task name `embedxfer.tasks.load_task` understands (column names URL-encoded)."""
    query = {"text": text_column, "label": label_column}
    if label_kind != "classes":
        query["kind"] = label_kind
    return f"file:{Path(path)}?{urlencode(query)}"


def add_file_task(
    path: str | os.PathLike, text_column: str, label_column: str, *, label_kind: str = "classes"
) -> tuple[str, Any]:
    """Load a data file as a task (validating file, columns and labels) and remember it.

    Returns (task name, Task). The name is what configs use in their `task` field.
    """
    from embedxfer.tasks import load_task

    name = file_task_name(path, text_column, label_column, label_kind)
    task = load_task(name)  # TaskError with a sentence for a bad file, column or label
    entry = {
        "name": name,
        "path": str(path),
        "text_column": text_column,
        "label_column": label_column,
        "label_kind": label_kind,
        "added_at": time.time(),
        "sizes": task.sizes(),
    }
    with _LOCK:
        data = _read()
        data["tasks"] = [t for t in data["tasks"] if t.get("name") != name] + [entry]
        _write(data)
    return name, task


def registered_tasks() -> list[dict[str, Any]]:
    """Tasks added in the dashboard, oldest first: dicts with name, path, columns, label_kind, sizes."""
    return [t for t in _read()["tasks"] if isinstance(t, dict) and t.get("name")]


def remove_task(name: str) -> bool:
    """Forget a registered task (its uploaded file stays); returns whether it was there."""
    with _LOCK:
        data = _read()
        kept = [t for t in data["tasks"] if t.get("name") != name]
        if len(kept) == len(data["tasks"]):
            return False
        data["tasks"] = kept
        _write(data)
    return True


def known_task_names() -> list[str]:
    """Task names to offer in forms: the built-in tasks, then the registered files."""
    from embedxfer.tasks import task_names

    return list(dict.fromkeys(task_names() + [t["name"] for t in registered_tasks()]))
