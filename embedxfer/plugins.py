"""Your own kinds and tasks without editing embedxfer: modules named in EMBEDXFER_PLUGINS.

Each entry of `EMBEDXFER_PLUGINS` (separated like PATH, by `os.pathsep`) is an importable module name
(`mylab.kinds`) or the path of a `.py` file. Its import registers kinds or tasks the way a built-in module does
(`register_kind`, `register_task`). The registries import the plugins after their built-ins, before answering
any lookup, in every process that reads the variable: the CLI, the dashboard, and a local Ray's workers (which
get the driver's `EMBEDXFER_*` settings). The variable is read again at each lookup, so a process whose
environment gains an entry later (a reused Ray worker) still imports it.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
import threading
from pathlib import Path
from types import ModuleType

from embedxfer.errors import ConfigError

ENV_PLUGINS = "EMBEDXFER_PLUGINS"

_loaded: dict[str, ModuleType] = {}
#: entries being imported on this thread right now: a plugin's own registrations can trigger another registry's
#: lookup, which must not import the same plugin a second time
_importing: set[str] = set()
_lock = threading.RLock()


def plugin_entries(text: str | None = None) -> list[str]:
    """The entries of `text` (default: the EMBEDXFER_PLUGINS variable), blanks dropped."""
    if text is None:
        text = os.environ.get(ENV_PLUGINS, "")
    return [entry.strip() for entry in text.split(os.pathsep) if entry.strip()]


def load_plugin(entry: str) -> ModuleType:
    """Import one plugin (a module name or a `.py` path) once per process; the same entry returns the same module,
    so registering its kinds again is a no-op."""
    with _lock:
        if entry in _loaded:
            return _loaded[entry]
        _importing.add(entry)
        try:
            module = _import_file(Path(entry)) if entry.endswith(".py") else importlib.import_module(entry)
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure of a user's module becomes one sentence
            raise ConfigError(
                f"{ENV_PLUGINS} names {entry!r}, which could not be imported ({type(exc).__name__}: {exc}); fix the "
                f"module or remove it from {ENV_PLUGINS}."
            ) from exc
        finally:
            _importing.discard(entry)
        _loaded[entry] = module
        return module


def load_plugins(text: str | None = None) -> list[ModuleType]:
    """Import every entry of `text` (default: the EMBEDXFER_PLUGINS variable) not imported yet (an entry whose
    import is under way on this thread is skipped)."""
    with _lock:
        return [load_plugin(entry) for entry in plugin_entries(text) if entry not in _importing]


def _import_file(path: Path) -> ModuleType:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise ConfigError(f"{ENV_PLUGINS} names {str(path)!r}, which is not a file; give a .py file or a module name.")
    # a stable, unique module name per file: dataclasses and pickling look classes up in sys.modules
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"embedxfer_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"{ENV_PLUGINS} names {str(path)!r}, which Python cannot import as a module.")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module
