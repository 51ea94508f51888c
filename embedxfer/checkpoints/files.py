"""Where a checkpoint's files are: its Hugging Face folder (converting or downloading when needed), its weight
files, and a stamp of them that changes when a local folder is rewritten."""

from __future__ import annotations

import os
from pathlib import Path

from embedxfer.checkpoints.info import read_json
from embedxfer.checkpoints.resolve import Resolved, bundled_folder, hub_folder, random_base
from embedxfer.errors import CheckpointError


def weight_files(folder: Path) -> tuple[str, list[Path]]:
    """("safetensors" | "pickle" | "none", files) for the model weights in `folder`."""
    indexes = (("model.safetensors.index.json", "safetensors"), ("pytorch_model.bin.index.json", "pickle"))
    for index_name, kind in indexes:
        index = folder / index_name
        if index.is_file():
            weight_map = read_json(index, "weight index").get("weight_map") or {}
            return kind, [folder / name for name in sorted(set(weight_map.values()))]
    if (folder / "model.safetensors").is_file():
        return "safetensors", [folder / "model.safetensors"]
    if safetensors := sorted(folder.glob("*.safetensors")):
        return "safetensors", safetensors
    if (folder / "pytorch_model.bin").is_file():
        return "pickle", [folder / "pytorch_model.bin"]
    if pickles := sorted(folder.glob("*.bin")):
        return "pickle", pickles
    return "none", []


#: Checkpoint ids whose pickle weights may load without allow_pickle: comma-separated patterns such as
#: `hub:EleutherAI/*` (Pythia's training-step branches ship .bin files only) or `/data/old-checkpoints/*`.
ALLOW_PICKLE_ENV = "EMBEDXFER_ALLOW_PICKLE"


def pickle_trusted(key: str) -> bool:
    """Whether the user trusts the pickle weights of checkpoint `key` (EMBEDXFER_ALLOW_PICKLE patterns; a revision
    is ignored, so `hub:EleutherAI/*` covers every step of every EleutherAI model)."""
    from fnmatch import fnmatchcase

    patterns = [p.strip() for p in os.environ.get(ALLOW_PICKLE_ENV, "").split(",") if p.strip()]
    return any(fnmatchcase(key.split("@", 1)[0], pattern) for pattern in patterns)


def pickle_refused(shown: str) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint {shown} only has pickle weights (.bin), which can run code when loaded; convert it to "
        f"safetensors, or, if you trust its source, set {ALLOW_PICKLE_ENV}={shown.split('@', 1)[0]} (patterns such "
        "as hub:EleutherAI/* work; in Python: allow_pickle=True). They then load with torch's weights-only unpickler."
    )


def folder_stamp(resolved: Resolved) -> tuple:
    """Changes when a local folder's config or weights are rewritten, so a stale cached model is not reused."""
    if resolved.kind == "random":
        return folder_stamp(random_base(resolved))
    if resolved.kind != "folder":
        return ()
    folder = Path(resolved.key)
    stamp = []
    for path in [folder / "config.json", *weight_files(folder)[1]]:
        try:
            st = path.stat()
            stamp.append((path.name, st.st_size, st.st_mtime_ns))
        except OSError:
            stamp.append((path.name, None, None))
    return tuple(stamp)


def local_folder(resolved: Resolved, *, allow_pickle: bool, trust_remote_code: bool) -> Path:
    """The HF folder behind a resolved id (converting or downloading if needed)."""
    if resolved.kind == "random":  # its config and tokenizer are its twin's; its weights are drawn, not read
        return local_folder(random_base(resolved), allow_pickle=True, trust_remote_code=trust_remote_code)
    if resolved.kind == "bundled":
        return bundled_folder(resolved.key)
    if resolved.kind == "hub":
        allow_pickle = allow_pickle or pickle_trusted(resolved.key)
        return hub_folder(resolved.key, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    return Path(resolved.key)
