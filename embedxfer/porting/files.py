"""Module files in the `adapters` format: write them (with our task head and the port report beside them) and read
them back completely or not at all.

A folder (or a .zip of one) holds `adapter_config.json` and `pytorch_adapter.bin` as `model.save_adapter` writes
them (loadable with `model.load_adapter(folder)`), plus `embedxfer_head.safetensors` (the task head: a linear layer
on the pooled hidden state) and, for a ported module, `port_report.json`. One difference from `save_adapter`: the
weights file also holds parameters shared by all layers (compacter's hypercomplex rule), which adapters 1.3.0 leaves
out when saving from a bare base model (its filter wants a dot before `shared_parameters`); its `load_adapter` then
keeps a freshly initialised rule without a warning. Files written here load completely with `load_adapter` (tested).

Reading checks a file against what the technique creates on the host (`check_complete`): a missing, extra or
misshapen tensor is an error that lists them, so a partial module is never half-loaded.
"""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedxfer.errors import ConfigError
from embedxfer.porting.modules import MODULE, canonical_name
from embedxfer.porting.techniques import TECHNIQUES, ModuleSpec, technique_of

if TYPE_CHECKING:
    import torch
    from torch import nn

CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "pytorch_adapter.bin"
SAFE_WEIGHTS_FILE = "adapter.safetensors"
HEAD_FILE = "embedxfer_head.safetensors"
REPORT_FILE = "port_report.json"
#: how many names an error lists before "and N more"
_LISTED = 6


@dataclass
class ModuleFile:
    """A module read from disk: its spec, its tensors by canonical name, the head (if any) and where it came from."""

    spec: ModuleSpec
    tensors: dict[str, torch.Tensor]
    head: dict[str, torch.Tensor] | None
    model_type: str | None
    hidden_size: int | None
    source: str


def save_module(folder: Path, backbone: nn.Module, head: nn.Module | None, *, extra: dict[str, Any]) -> Path:
    """Write the attached module (every alias of every tensor, as `save_adapter` names them), the head and
    `extra` files (name -> JSON-able object) into `folder`."""
    import torch
    from safetensors.torch import save_file

    from embedxfer.porting.modules import module_state

    folder.mkdir(parents=True, exist_ok=True)
    backbone.save_adapter(str(folder), MODULE)  # adapter_config.json in the library's own layout
    torch.save(module_state(backbone), folder / WEIGHTS_FILE)
    if head is not None:
        state = {f"head.{k}": v.detach().cpu().contiguous() for k, v in head.state_dict().items()}
        save_file(state, str(folder / HEAD_FILE), metadata={"format": "embedxfer task head: Linear(hidden, classes)"})
    for name, value in extra.items():
        (folder / name).write_text(json.dumps(value, indent=1, default=str))
    return folder


def zip_folder(folder: Path) -> bytes:
    """A folder's files as the bytes of a .zip (what a download hands out)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.iterdir()):
            if path.is_file():
                archive.write(path, path.name)
    return buffer.getvalue()


def _files_of(path: Path) -> dict[str, bytes]:
    """{file name: bytes} of a module folder or .zip (nested folders in a zip are flattened by name)."""
    if path.is_dir():
        return {p.name: p.read_bytes() for p in path.iterdir() if p.is_file()}
    if path.is_file() and zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            return {Path(n).name: archive.read(n) for n in archive.namelist() if not n.endswith("/")}
    raise ConfigError(f"Module file {path} is neither a folder nor a .zip of one (adapter_config.json + weights).")


def read_module(path: str | Path, family: str, *, technique: str | None = None) -> ModuleFile:
    """Read a module folder or zip written by `adapters` (or by `save_module`) for a host of `family`; with
    `technique`, a module of another technique is refused before its weights are read."""
    import torch

    from embedxfer.paths import check_user_path
    from embedxfer.planning.recorder import note_file

    note_file(str(path))  # a running trial depends on this file's content (planning/recorder.py)
    path = check_user_path(path)  # exists, under the allowed roots (EMBEDXFER_ALLOWED_ROOTS)
    files = _files_of(path)
    if CONFIG_FILE not in files:
        raise ConfigError(f"Module file {path} has no {CONFIG_FILE}: is it a module saved by adapters?")
    try:
        meta = json.loads(files[CONFIG_FILE])
        raw, name = dict(meta["config"]), str(meta.get("name") or MODULE)
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{path}/{CONFIG_FILE} is not an adapters config (no 'config' mapping).") from None
    found = technique_of(raw)
    if found is None:
        raise ConfigError(
            f"Module file {path} holds a module of a kind module_porting does not port "
            f"(architecture {raw.get('architecture')!r}); techniques: {', '.join(TECHNIQUES)}."
        )
    if technique is not None and found != technique:
        raise ConfigError(
            f"Module file {path} holds a {found} module, but technique is {technique!r}; set technique: {found}."
        )
    if WEIGHTS_FILE in files:
        state = torch.load(io.BytesIO(files[WEIGHTS_FILE]), map_location="cpu", weights_only=True)
    elif SAFE_WEIGHTS_FILE in files:
        from safetensors.torch import load as load_safetensors

        state = load_safetensors(files[SAFE_WEIGHTS_FILE])
    else:
        raise ConfigError(f"Module file {path} has no weights ({WEIGHTS_FILE} or {SAFE_WEIGHTS_FILE}).")
    tensors = _canonical_tensors(state, family, name, path)
    head = None
    if HEAD_FILE in files:
        from safetensors.torch import load as load_safetensors

        head = load_safetensors(files[HEAD_FILE])
    spec = ModuleSpec(found, raw=raw)
    hidden = meta.get("hidden_size")
    return ModuleFile(spec, tensors, head, meta.get("model_type"), int(hidden) if hidden else None, str(path))


def _canonical_tensors(state: dict[str, Any], family: str, name: str, path: Path) -> dict[str, torch.Tensor]:
    """{canonical name: tensor}; aliases of one tensor (the prefix pool's) must agree."""
    import torch

    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        canonical = canonical_name(key, family, name)
        if canonical is None:
            continue
        if canonical in out and not torch.equal(out[canonical], value):
            raise ConfigError(f"Module file {path}: two copies of {canonical} differ ({key}); the file is damaged.")
        out[canonical] = value
    if not out:
        raise ConfigError(f"Module file {path} holds no tensors of adapter {name!r} for a {family} host.")
    return out


def check_complete(file: ModuleFile, expected: dict[str, tuple[int, ...]], host: str) -> None:
    """ConfigError listing every tensor the technique creates on `host` that the file lacks, every tensor the file
    has that the host's module lacks, and every shape that differs; nothing is loaded then."""
    missing = [n for n in expected if n not in file.tensors]
    extra = [n for n in file.tensors if n not in expected]
    shapes = [
        f"{n} {tuple(file.tensors[n].shape)} vs {expected[n]}"
        for n in expected
        if n in file.tensors and tuple(file.tensors[n].shape) != tuple(expected[n])
    ]
    problems = []
    for label, names in (("missing", missing), ("not in the module", extra), ("of another shape", shapes)):
        if names:
            listed = ", ".join(names[:_LISTED]) + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")
            problems.append(f"{len(names)} {label} ({listed})")
    if problems:
        raise ConfigError(
            f"Module file {file.source} does not match a {file.spec.technique} module on {host} "
            f"({len(expected)} tensors expected, {len(file.tensors)} in the file): {'; '.join(problems)}. Nothing "
            "was loaded."
        )
