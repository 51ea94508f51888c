"""The one way built-in things are found: a named registry filled by importing its built-in modules.

Experiment kinds and tasks both live in a `Registry`. Each built-in module registers its entries when it is
imported; the registry imports its list of built-in modules on the first lookup, so importing a package stays
cheap and a plugin (or a test) can register more entries the same way. A kind's figures, presets, card and
compatibility rule travel with the kind itself, so they need no registry of their own.
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from embedxfer.plugins import ENV_PLUGINS, load_plugins

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name; `builtin_modules` are imported (once, on first use) to register the built-in ones."""

    def __init__(self, what: str, builtin_modules: tuple[str, ...], unknown: Callable[[str, list[str]], Exception]):
        """`what` names an entry in messages ("experiment kind"); `unknown(name, known)` builds the error a failed
        lookup raises (a sentence that lists the known names)."""
        self.what = what
        self.builtin_modules = builtin_modules
        self._unknown = unknown
        self._entries: dict[str, T] = {}
        #: name -> index in builtin_modules of the module that registered it (absent: registered by anyone else)
        self._builtin_rank: dict[str, int] = {}
        self._lock = threading.RLock()
        self._loaded = False
        self._loading = False
        #: the EMBEDXFER_PLUGINS value whose modules are imported (re-read at each lookup)
        self._plugins_seen = ""

    def register(self, name: str, entry: T) -> T:
        """Add `entry`; registering the same object twice is a no-op, another object under a taken name an error."""
        with self._lock:
            existing = self._entries.get(name)
            if existing is not None and existing is not entry:
                raise ValueError(f"{self.what} {name!r} is already registered")
            self._entries[name] = entry
            rank = self._registering_builtin()
            if rank is not None:
                self._builtin_rank[name] = rank
        return entry

    def _registering_builtin(self) -> int | None:
        """The index of the built-in module on the call stack doing this registration, if any. A built-in module
        imported directly (a page importing a kind's helpers) registers before the registry loads the rest, so
        the order is fixed by module rank rather than by who was imported first."""
        frame = sys._getframe(2)
        while frame is not None:
            module = frame.f_globals.get("__name__")
            if module in self.builtin_modules:
                return self.builtin_modules.index(module)
            frame = frame.f_back
        return None

    def _ordered(self) -> list[str]:
        """Built-in entries in their modules' listed order, then the others in registration order."""
        last = len(self.builtin_modules)
        order = sorted(enumerate(self._entries), key=lambda item: (self._builtin_rank.get(item[1], last), item[0]))
        return [name for _, name in order]

    def unregister(self, name: str) -> None:
        """Forget `name` (tests that register a throwaway entry clean up with this)."""
        with self._lock:
            self._entries.pop(name, None)
            self._builtin_rank.pop(name, None)

    def get(self, name: str) -> T:
        self._load_builtins()
        with self._lock:
            entry = self._entries.get(name)
            if entry is None:
                raise self._unknown(name, sorted(self._entries))
            return entry

    def __contains__(self, name: object) -> bool:
        self._load_builtins()
        return name in self._entries

    def names(self) -> list[str]:
        """Names in registration order: built-in modules first, in their listed order."""
        self._load_builtins()
        with self._lock:
            return self._ordered()

    def __iter__(self) -> Iterator[T]:
        self._load_builtins()
        with self._lock:
            return iter([self._entries[name] for name in self._ordered()])

    def _load_builtins(self) -> None:
        """The built-in modules (once), then the plugins named in EMBEDXFER_PLUGINS (docs: embedxfer/plugins.py)."""
        self._load_modules()
        plugins = os.environ.get(ENV_PLUGINS, "")
        if plugins != self._plugins_seen and self._loaded:
            with self._lock:
                load_plugins(plugins)
                self._plugins_seen = plugins

    def _load_modules(self) -> None:
        if self._loaded:
            return
        with self._lock:  # other threads wait here until the built-ins are in
            if self._loaded or self._loading:  # _loading: a built-in module looking something up while it loads
                return
            self._loading = True
            try:
                for module in self.builtin_modules:
                    importlib.import_module(module)
                self._loaded = True
            finally:
                self._loading = False
