"""Where embedxfer keeps its files, and which user-given paths it accepts.

`EMBEDXFER_HOME` (default `~/.embedxfer`) holds the run store, artifacts and the cache of
converted checkpoints / computed features (`EMBEDXFER_CACHE` moves the cache elsewhere).
`EMBEDXFER_ALLOWED_ROOTS` (os.pathsep-separated)
limits which folders a user may point the app at; by default the user's home folder, the
working directory, the system temp folder and EMBEDXFER_HOME.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from embedxfer.errors import EmbedxferError


def home() -> Path:
    """The embedxfer home folder, created on first use."""
    root = Path(os.environ.get("EMBEDXFER_HOME") or Path.home() / ".embedxfer").expanduser().resolve()
    root.mkdir(parents=True, exist_ok=True)
    return root


def cache_dir(*parts: str) -> Path:
    """A folder under the cache (`EMBEDXFER_CACHE`, default `<home>/cache/`), created on first use."""
    base = os.environ.get("EMBEDXFER_CACHE")
    root = Path(base).expanduser().resolve() if base else home() / "cache"
    path = root.joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def allowed_roots() -> list[Path]:
    """Folders under which user-given paths are accepted."""
    configured = os.environ.get("EMBEDXFER_ALLOWED_ROOTS")
    if configured:
        return [Path(p).expanduser().resolve() for p in configured.split(os.pathsep) if p]
    return [Path.home().resolve(), Path.cwd().resolve(), Path(tempfile.gettempdir()).resolve(), home()]


def resolve_user_path(path: str | os.PathLike) -> Path:
    """`Path.resolve()` for a path a user typed, with a sentence instead of RuntimeError for a symlink loop."""
    try:
        return Path(path).expanduser().resolve()
    except RuntimeError:  # Python 3.11 raises RuntimeError("Symlink loop from ...")
        raise EmbedxferError(
            f"Path {path} is a symbolic link that loops back on itself; give the real folder or file."
        ) from None
    except OSError as exc:
        raise EmbedxferError(f"Path {path} cannot be used ({exc.strerror or exc}); check it.") from None


def check_user_path(path: str | os.PathLike) -> Path:
    """Resolve a user-given path and make sure it exists under an allowed root."""
    resolved = resolve_user_path(path)
    roots = allowed_roots()
    if not any(resolved == root or root in resolved.parents for root in roots):
        shown = ", ".join(str(r) for r in roots)
        raise EmbedxferError(
            f"Path {resolved} is outside the allowed folders ({shown}); "
            "move it there or add its folder to EMBEDXFER_ALLOWED_ROOTS."
        )
    if not resolved.exists():
        raise EmbedxferError(f"Path {resolved} does not exist; check the spelling.")
    return resolved


def write_atomic(path: Path, data: bytes | str | dict[str, Any] | list[Any]) -> Path:
    """Write `data` to `path` through a temp file in the same folder + os.replace (readers never see half a file);
    dict/list as JSON, str as UTF-8."""
    if isinstance(data, dict | list):
        data = json.dumps(data, indent=1, default=str)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
