"""Convert-once cache: bundled ONNX / GGUF checkpoints become Hugging Face folders under the cache.

A conversion writes into a temporary folder next to the target and renames it into place, so a
crash or a second process never leaves a half-written folder that looks complete. A stamp file
(written last) records which source file the folder came from; a changed source or converter
version triggers a fresh conversion.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from embedxfer import paths
from embedxfer.errors import CheckpointError

logger = logging.getLogger("embedxfer.checkpoints")

STAMP_FILE = "embedxfer-conversion.json"
# Bump when a converter changes what it writes, so old cached folders are rebuilt.
CONVERTER_VERSION = 1


def _stamp(source: Path, converter: str) -> dict:
    stat = source.stat()
    return {
        "source": str(source),
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "converter": converter,
        "converter_version": CONVERTER_VERSION,
    }


def _read_stamp(folder: Path) -> dict | None:
    try:
        return json.loads((folder / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def target_folder(checkpoint_id: str) -> Path:
    """Where the converted folder of a bundled checkpoint lives (it may not exist yet)."""
    return paths.cache_dir("checkpoints") / checkpoint_id


def cached_folder(checkpoint_id: str, source: Path, converter: str) -> Path | None:
    """The converted folder if it is complete and matches `source`, else None."""
    folder = target_folder(checkpoint_id)
    stamp = _read_stamp(folder)
    return folder if stamp is not None and stamp == _stamp(source, converter) else None


def converted_folder(checkpoint_id: str, source: Path, converter: str, convert: Callable[[Path, Path], None]) -> Path:
    """Return the cached HF folder for `checkpoint_id`, running `convert(source, out_dir)` once if needed."""
    done = cached_folder(checkpoint_id, source, converter)
    if done is not None:
        return done
    final = target_folder(checkpoint_id)
    root = final.parent
    logger.info("converting %s from %s (one time; cached in %s)", checkpoint_id, source, final)
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{checkpoint_id}-tmp-", dir=root))
    try:
        convert(source, work)
        (work / STAMP_FILE).write_text(json.dumps(_stamp(source, converter), indent=1), encoding="utf-8")
        _publish(work, final, source, converter)
    except CheckpointError:
        raise
    except Exception as exc:  # a converter failure is reported as one sentence; details stay in the chain
        raise CheckpointError(
            f"Converting {checkpoint_id} from {source.name} failed ({type(exc).__name__}: {_first_line(exc)}); "
            "reinstall its pip package or report the error."
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    logger.info("converted %s in %.1f s", checkpoint_id, time.perf_counter() - started)
    return final


def _publish(work: Path, final: Path, source: Path, converter: str) -> None:
    """Move `work` to `final`; an outdated or partial `final` is moved aside first."""
    if final.exists():
        if cached_folder(final.name, source, converter) is not None:
            return  # another process finished the same conversion first
        aside = Path(tempfile.mkdtemp(prefix=f".{final.name}-old-", dir=final.parent))
        os.replace(final, aside / "old")
        shutil.rmtree(aside, ignore_errors=True)
    try:
        os.replace(work, final)
    except OSError:
        # Lost a race with another process that published in between: fine if its result is complete.
        if cached_folder(final.name, source, converter) is None:
            raise


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else ""
