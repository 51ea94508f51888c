"""Turn a checkpoint id into a local Hugging Face folder, with one-sentence errors for every bad id.

Ids: a bundled name (`minilm-l6`, `minilm-l3`, `smollm2-135m`), a local folder path, or
`hub:org/name`. Bundled ONNX / GGUF checkpoints are converted once into the cache; hub ids are
downloaded (safetensors and tokenizer files only, unless pickle weights are allowed).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from embedxfer import paths
from embedxfer.checkpoints import convert_cache
from embedxfer.checkpoints.bundled import BUNDLED, locate
from embedxfer.checkpoints.info import read_json
from embedxfer.errors import CheckpointError, EmbedxferError
from embedxfer.planning.recorder import note_checkpoint

HUB_PREFIX = "hub:"
#: `random:<checkpoint>`: the checkpoint's architecture, freshly initialised (the untrained twin, a reference for
#: every kind that reads representations); always the same draw, RANDOM_INIT_SEED
RANDOM_PREFIX = "random:"
RANDOM_INIT_SEED = 0
_HUB_NAME = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?(@[\w./-]+)?$")
#: how a hub id is written (a revision is a branch, tag or commit: Pythia's training steps are branches, step3000)
HUB_SYNTAX = "hub:org/name or hub:org/name@revision"
_TOKENIZER_PATTERNS = ["*.json", "*.txt", "*.model", "*.tiktoken"]


@dataclass(frozen=True)
class Resolved:
    key: str  # canonical id: bundled name, resolved folder path or hub:org/name[@revision]
    kind: str  # "bundled" | "folder" | "hub" | "random"
    source: str  # human text for ArchInfo.source


def known_ids_text() -> str:
    return ", ".join(BUNDLED)


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", ".", "~")) or os.sep in text or "/" in text or Path(text).exists()


def resolve_id(checkpoint_id: str) -> Resolved:
    """Classify an id without touching weights; CheckpointError for unknown ids and bad paths. A running trial
    notes each id it resolves: its weights are part of what the trial depends on (planning/recorder.py)."""
    resolved = _classify(checkpoint_id)
    note_checkpoint(str(checkpoint_id).strip())
    return resolved


def _classify(checkpoint_id: str) -> Resolved:
    if not isinstance(checkpoint_id, str | os.PathLike) or not str(checkpoint_id).strip():
        raise CheckpointError(f"A checkpoint id must be a non-empty string; known ids: {known_ids_text()}.")
    text = str(checkpoint_id).strip()
    if text.startswith(RANDOM_PREFIX):
        base = _classify(text[len(RANDOM_PREFIX) :])
        if base.kind == "random":
            raise CheckpointError(f"{text!r} names a random twin of a random twin; write random:<checkpoint> once.")
        return Resolved(
            f"{RANDOM_PREFIX}{base.key}",
            "random",
            f"{base.key}'s architecture, randomly initialised (seed {RANDOM_INIT_SEED})",
        )
    if text in BUNDLED:
        return Resolved(text, "bundled", BUNDLED[text].source)
    if text.startswith(HUB_PREFIX):
        name = text[len(HUB_PREFIX) :]
        if not _HUB_NAME.match(name):
            raise CheckpointError(f"Hub id {text!r} is malformed; write it as {HUB_SYNTAX}.")
        repo, revision = split_hub_name(name)
        where = f"Hugging Face Hub {repo}" + (f" at revision {revision}" if revision else "")
        return Resolved(f"{HUB_PREFIX}{name}", "hub", where)
    if not _looks_like_path(text):
        raise CheckpointError(
            f"Unknown checkpoint {text!r}; known ids: {known_ids_text()}, "
            f"or give a local model folder path or {HUB_SYNTAX}."
        )
    try:
        folder = paths.check_user_path(text)
    except CheckpointError:
        raise
    except EmbedxferError as exc:
        explicit = Path(text).expanduser().is_absolute() or text.startswith(".")
        hint = "" if explicit else " (for a Hub model write hub:org/name)"
        raise CheckpointError(f"{str(exc).rstrip('.')}{hint}.") from None
    return Resolved(str(folder), "folder", f"local folder {folder}")


def random_base(resolved: Resolved) -> Resolved:
    """The checkpoint a `random:` id is the untrained twin of."""
    return resolve_id(resolved.key[len(RANDOM_PREFIX) :])


def split_hub_name(name: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); no '@' -> ('org/name', None): the repository's default branch."""
    repo, sep, revision = name.partition("@")
    return repo, (revision if sep else None)


def check_model_folder(folder: Path, shown: str) -> dict:
    """The folder's config.json; CheckpointError if `folder` is not a Hugging Face model folder."""
    if not folder.is_dir():
        raise CheckpointError(f"Checkpoint {shown} is a file, not a model folder; give the folder holding config.json.")
    if not (folder / "config.json").is_file():
        raise CheckpointError(
            f"Folder {shown} is not a Hugging Face model folder (no config.json); "
            "save a model there with save_pretrained or pick another folder."
        )
    return read_json(folder / "config.json", "model config")


# --- bundled ----------------------------------------------------------------------------------------------------------


#: how each bundled checkpoint that pip does not carry as a Hugging Face folder becomes one
_CONVERTERS = {"minilm-l3": "onnx-bert", "smollm2-135m": "gguf", "gemma3-270m": "gguf"}


def bundled_folder(checkpoint_id: str) -> Path:
    """HF folder of a bundled checkpoint, converting (once) the ONNX / GGUF ones into the cache."""
    source = locate(checkpoint_id)
    if checkpoint_id == "minilm-l6":
        return source
    if checkpoint_id == "minilm-l3":
        from embedxfer.checkpoints.onnx_import import convert_onnx_bert

        tok_folder = locate("minilm-l6")
        template = read_json(tok_folder / "config.json", "model config")
        return convert_cache.converted_folder(
            checkpoint_id, source, "onnx-bert", lambda src, out: convert_onnx_bert(src, template, tok_folder, out)
        )
    if _CONVERTERS.get(checkpoint_id) == "gguf":
        from embedxfer.checkpoints.gguf_import import convert_gguf

        return convert_cache.converted_folder(checkpoint_id, source, "gguf", convert_gguf)
    raise CheckpointError(f"Unknown checkpoint {checkpoint_id!r}; known ids: {known_ids_text()}.")


def cached_bundled_folder(checkpoint_id: str) -> Path | None:
    """The bundled checkpoint's HF folder if it exists without converting anything."""
    source = locate(checkpoint_id)
    if checkpoint_id == "minilm-l6":
        return source
    converter = _CONVERTERS[checkpoint_id]
    return convert_cache.cached_folder(checkpoint_id, source, converter)


# --- hub --------------------------------------------------------------------------------------------------------------


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}


def hub_folder(key: str, *, allow_pickle: bool, trust_remote_code: bool) -> Path:
    """Download (or find in the HF cache) config, tokenizer and safe weights of `hub:org/name[@revision]`."""
    name, revision = split_hub_name(key[len(HUB_PREFIX) :])
    patterns = [*_TOKENIZER_PATTERNS, "*.safetensors"] + (["*.py"] if trust_remote_code else [])
    folder = _snapshot(name, patterns, revision)
    if not any(folder.glob("*.safetensors")):
        if not allow_pickle:
            shown = name + (f" at revision {revision}" if revision else "")
            raise CheckpointError(
                f"Hub model {shown} has no safetensors weights; if it has pickle (.bin) weights and you trust its "
                f"source, set EMBEDXFER_ALLOW_PICKLE=hub:{name} (patterns such as hub:EleutherAI/* work; in Python: "
                "allow_pickle=True). They then load with torch's weights-only unpickler."
            )
        folder = _snapshot(name, [*patterns, "*.bin"], revision)
    return folder


def _snapshot(name: str, patterns: list[str], revision: str | None = None) -> Path:
    import requests
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    offline = hub_offline()
    shown = name + (f" at revision {revision}" if revision else "")
    unreachable = (
        f"Cannot reach the Hugging Face Hub to get {shown}"
        + (" (offline mode: HF_HUB_OFFLINE is set)" if offline else "")
        + " and it is not in the local Hugging Face cache; "
        + f"use a bundled checkpoint ({known_ids_text()}) or a local model folder."
    )
    try:
        return Path(snapshot_download(name, revision=revision, allow_patterns=patterns, local_files_only=offline))
    except RevisionNotFoundError as exc:  # before RepositoryNotFoundError and requests' errors: it is both
        raise CheckpointError(
            f"Hub model {name} has no revision {revision!r}; give a branch, tag or commit it has (its page lists "
            "them under Files and versions)."
        ) from exc
    except (GatedRepoError, RepositoryNotFoundError) as exc:
        raise CheckpointError(
            f"Hub model {name} does not exist or needs a login; check the name or run `huggingface-cli login`."
        ) from exc
    except (LocalEntryNotFoundError, requests.exceptions.RequestException, OSError) as exc:
        raise CheckpointError(unreachable) from exc
    except Exception as exc:  # other hub failures (HTTP 5xx, validation) are still "cannot use the hub now"
        raise CheckpointError(f"{unreachable[:-1]} ({type(exc).__name__}).") from exc
