"""`embedding_transfer`: only the token-embedding table of a pretrained checkpoint, frozen by default, under a
different, newly trained scorer; does the table's source matter once width and vocabulary are controlled?

Conditions (public names): `source:<checkpoint>` per source and the baselines built from it, `random-matched`,
`shuffled`, `rotated`, `scratch` (suffixed `@<checkpoint>` with several sources); trials per (seed, target,
source, condition), the target a trial param. Tables in `tables.py`, scorers in `embedxfer.targets`, the paired
comparisons and the transfer matrix in `figures.py` (docs/architecture.md, "embedding_transfer").
"""

from pathlib import Path

from embedxfer.experiments.embedding_transfer.claims import CLAIMS
from embedxfer.experiments.embedding_transfer.config import BASELINES, EMBEDDINGS, EmbeddingTransferConfig
from embedxfer.experiments.embedding_transfer.figures import FIGURES, paired_rows
from embedxfer.experiments.embedding_transfer.trial import (
    BASELINE_MEANING,
    condition_name,
    estimate_seconds,
    expand,
    notes,
    run_trial,
)
from embedxfer.experiments.registry import ExperimentKind, KindCard, register_kind, task_primary_metric


def compat(a, b):
    """Any two checkpoints' tables can go under the same scorers; widths and vocabularies decide the controls."""
    from embedxfer.experiments.outputs import Support

    if a.table_width == b.table_width and a.vocab_size == b.vocab_size and a.family == b.family:
        return Support("yes", "same width and vocabulary: compared as they are")
    if a.table_width != b.table_width:
        smaller = min(a.table_width, b.table_width)
        return Support("adjusted", f"widths {a.table_width} vs {b.table_width}: compare at dim pca:{smaller}")
    return Support("adjusted", "vocabularies differ: each with its own tokenizer, or vocab shared:<checkpoint>")


KIND = register_kind(
    ExperimentKind(
        name="embedding_transfer",
        config_cls=EmbeddingTransferConfig,
        expand=expand,
        run_trial=run_trial,
        description="A pretrained token-embedding table under newly trained scorers, against matched baselines.",
        card=KindCard(
            title="Embedding transfer",
            question="Does a frozen embedding layer from model A help a different, newly trained model?",
            reference="r/MachineLearning 'Transferring Pretrained Embeddings' (2025); Kocmi & Bojar 2017",
            quick_preset="embedding_transfer-quick",
        ),
        primary_metric=task_primary_metric,
        summary_metrics=("fit_accuracy", "steps_to_threshold"),
        group_params=("target",),
        estimate_seconds=estimate_seconds,
        figures=FIGURES,
        claims=CLAIMS,
        compat=compat,
        notes=notes,
        paired=paired_rows,
        presets_dir=Path(__file__).parent / "presets",
    )
)

__all__ = [
    "BASELINES",
    "BASELINE_MEANING",
    "EMBEDDINGS",
    "KIND",
    "EmbeddingTransferConfig",
    "condition_name",
    "estimate_seconds",
    "expand",
    "notes",
    "paired_rows",
    "run_trial",
]
