"""The modules of an experiment as one download: every ported module (with its port report) and every origin
module, each in its own folder in the adapters format (`model.load_adapter(folder)` reads it; the task head is
`embedxfer_head.safetensors` beside it)."""

from __future__ import annotations

import io
import re
import zipfile
from typing import TYPE_CHECKING

from embedxfer.errors import StoreError
from embedxfer.experiments.module_porting.trial import ORIGIN_ARTIFACT, PORTED_ARTIFACT

if TYPE_CHECKING:
    from embedxfer.experiments.outputs import ExperimentData


def _folder_name(*parts: object) -> str:
    """A file-system-safe folder name (checkpoint ids may be paths)."""
    text = "_".join(str(p) for p in parts)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:150]


def modules_zip(data: ExperimentData) -> bytes:
    """One zip: `<technique>_<origin>_to_<receiver>_seed<k>_<ported|origin>/` per completed trial with a module."""
    buffer = io.BytesIO()
    frame = data.completed()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        if frame.empty or data.store_root is None:
            archive.writestr("README.txt", "No trial with a module has completed yet.\n")
        for row in frame.itertuples(index=False):
            name = {"ported": PORTED_ARTIFACT, "origin": ORIGIN_ARTIFACT}.get(row.condition)
            if name is None:
                continue
            try:
                inner = zipfile.ZipFile(io.BytesIO(data.artifact(row.trial_id, name)))
            except StoreError:
                continue  # a trial stored before its module was written (or whose artifact was removed)
            host = row.origin if row.condition == "origin" else f"{row.origin}_to_{row.receiver}"
            folder = _folder_name(row.technique, host, f"seed{row.seed}", row.condition)
            for member in inner.namelist():
                archive.writestr(f"{folder}/{member}", inner.read(member))
    return buffer.getvalue()
