"""Where embedxfer keeps its files, and which user-given paths it accepts.

`EMBEDXFER_HOME` (default `~/.embedxfer`) holds the run store, artifacts and the cache of
converted checkpoints / computed features (`EMBEDXFER_CACHE` moves the cache elsewhere).
`EMBEDXFER_ALLOWED_ROOTS` (os.pathsep-separated)
limits which folders a user may point the app at; by default the user's home folder, the
working directory, the system temp folder and EMBEDXFER_HOME.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

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


def check_user_path(path: str | os.PathLike) -> Path:
    """Resolve a user-given path and make sure it exists under an allowed root."""
    resolved = Path(path).expanduser().resolve()
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
