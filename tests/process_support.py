"""Child processes in tests: started as a terminal would start them, always ended.

A process started in the background by a non-interactive shell (`nohup make test &`) has SIGINT ignored, and its
children inherit that: Python then installs no KeyboardInterrupt handler and a test's SIGINT is dropped. So every
child a test may signal starts with SIGINT at its default, in a session of its own (its whole process group can be
signalled, as a terminal's Ctrl-C does), and is killed with its group when the test ends, passed or failed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def sigint_default() -> None:
    """preexec_fn: undo an inherited `SIGINT ignored` in the child before it starts Python."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(command: list[str], *, env: dict[str, str] | None = None, **kwargs) -> subprocess.Popen:
    """Popen `command` with SIGINT at its default, in a new session, text pipes for stdout and stderr."""
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(
        command,
        env={**os.environ, **(env or {})},
        text=True,
        preexec_fn=sigint_default,
        start_new_session=True,
        **kwargs,
    )


def end(process: subprocess.Popen) -> None:
    """Kill `process` and everything in its session (Ray's local processes, say) unless it has exited; reap it."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    try:
        process.communicate(timeout=60)
    except (subprocess.TimeoutExpired, ValueError):  # ValueError: its pipes were already read to the end
        process.wait(timeout=60)


@contextmanager
def cli(*args: str, env: dict[str, str] | None = None, **kwargs) -> Iterator[subprocess.Popen]:
    """`python -m embedxfer ARGS` as a terminal would start it; killed (with its session) when the block ends."""
    process = start([sys.executable, "-m", "embedxfer", *args], env=env, **kwargs)
    try:
        yield process
    finally:
        end(process)
