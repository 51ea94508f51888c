"""Where a checkpoint's files are: its Hugging Face folder (converting or downloading when needed), its weight
files, and a stamp of them that changes when a local folder is rewritten."""

from __future__ import annotations

from pathlib import Path

from embedxfer.checkpoints.info import read_json
from embedxfer.checkpoints.resolve import Resolved, bundled_folder, hub_folder
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


def pickle_refused(shown: str) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint {shown} only has pickle weights (.bin), which can run code when loaded; "
        "convert it to safetensors, or pass allow_pickle=True if you trust its source."
    )


def folder_stamp(resolved: Resolved) -> tuple:
    """Changes when a local folder's config or weights are rewritten, so a stale cached model is not reused."""
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
    if resolved.kind == "bundled":
        return bundled_folder(resolved.key)
    if resolved.kind == "hub":
        return hub_folder(resolved.key, allow_pickle=allow_pickle, trust_remote_code=trust_remote_code)
    return Path(resolved.key)
