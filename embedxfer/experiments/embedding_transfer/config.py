"""The embedding_transfer config: source embedding tables, target scorers, the controls and the baselines."""

from __future__ import annotations

import re
from dataclasses import dataclass

from embedxfer.errors import ConfigError
from embedxfer.experiments.config import BaseConfig, config_field, require
from embedxfer.targets import TARGETS, parse_target, target_help

#: The baselines built from each source (docs/architecture.md, "embedding_transfer"); condition names are public.
BASELINES = ("random-matched", "shuffled", "rotated", "scratch")
EMBEDDINGS = ("frozen", "trainable")
_PCA = re.compile(r"^pca:(\d+)$")


@dataclass(kw_only=True)
class EmbeddingTransferConfig(BaseConfig):
    """Each source's token-embedding table (frozen by default) under newly trained target scorers, beside baselines
    built from the same table, with width (`dim`) and vocabulary (`vocab`) controls."""

    kind = "embedding_transfer"

    sources: list[str] = config_field(
        factory=lambda: ["minilm-l6", "minilm-l3"],
        help="Checkpoints whose token-embedding tables are transferred (only that table is used).",
        role="checkpoints",
    )
    targets: list[str] = config_field(
        factory=lambda: ["bag", "transformer"],
        help="Scorers trained from scratch on top, each a name and optional key=value options, e.g. "
        "'transformer layers=2 heads=4'. " + target_help() + ".",
        suggestions=tuple(TARGETS),
    )
    embedding: str = config_field(
        "frozen", choices=EMBEDDINGS, help="frozen: the table is never updated; trainable: it is trained too."
    )
    dim: str = config_field(
        "native",
        help="native (each source at its own width) or pca:<k> (every source reduced to k dimensions by PCA fitted "
        "on its own rows), so sources of different width are compared at one width.",
    )
    vocab: str = config_field(
        "native",
        help="native (each source with its own tokenizer) or shared:<checkpoint> (that checkpoint's tokenizer for "
        "all; other sources' rows mapped by token text, unmapped rows drawn from the source's own row "
        "distribution; counts reported).",
    )
    unit_scale: bool = config_field(
        True,
        help="Divide each table by its root-mean-square value (one number per table) before training: keeps every "
        "table's geometry, rotation and row order, and removes scale as a confound (pretrained tables are ~20x "
        "smaller than a N(0, 1) init, which slows small scorers down).",
    )
    baselines: list[str] = config_field(
        factory=lambda: list(BASELINES),
        choices=BASELINES,
        help="Baselines built from each source: random-matched (Gaussian, the source's per-dimension mean and std), "
        "shuffled (rows permuted), rotated (random orthogonal rotation: a null control), scratch (standard init, "
        "trainable).",
    )
    ood_tasks: list[str] = config_field(
        factory=list,
        help="Other tasks with the same labels, scored with the trained scorer (e.g. word-valence-binary after "
        "tweets-binary): how the fit generalizes out of distribution.",
        role="tasks",
    )
    epochs: float = config_field(3.0, help="Passes over the training examples.")
    lr: float = config_field(1e-3, help="Learning rate (AdamW, linear decay, clip 1.0): scorers train from scratch.")
    batch_size: int = config_field(32, help="Examples per optimisation step.")
    max_length: int = config_field(64, help="Tokens per example after truncation (also the transformer's positions).")
    weight_decay: float = config_field(0.0, help="AdamW weight decay.")
    eval_every: int | None = config_field(
        50,
        help="Validate (and score the training subset) every this many steps: the learning curves.",
        empty="only at the end",
    )
    threshold: float | None = config_field(
        0.7,
        help="Validation metric (accuracy or pearson) whose first crossing is reported as steps_to_threshold.",
        empty="no steps-to-threshold",
    )
    eval_size: int | None = config_field(
        1000,
        help="Cap on validation, test, OOD and training-fit examples (a fixed subset); empty = all.",
        empty="all of them",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.sources:
            raise ConfigError("Field 'sources' must list at least one checkpoint; see `embedxfer checkpoints`.")
        if len(set(self.sources)) != len(self.sources):
            raise ConfigError(f"Field 'sources' has duplicates: {self.sources}.")
        if not self.targets:
            raise ConfigError(f"Field 'targets' must list at least one target: {', '.join(TARGETS)}.")
        labels = [parse_target(t).label for t in self.targets]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"Field 'targets' names the same target twice: {labels}.")
        self.targets = labels  # one spelling per target: the name and only the options that differ from defaults
        require(self, positive=("epochs", "lr", "batch_size", "eval_every", "eval_size"), choices=("embedding",))
        bad = [b for b in self.baselines if b not in BASELINES]
        if bad:
            raise ConfigError(f"Field 'baselines': unknown {bad[0]!r}; baselines: {', '.join(BASELINES)}.")
        if len(set(self.baselines)) != len(self.baselines):
            raise ConfigError(f"Field 'baselines' has duplicates: {self.baselines}.")
        if self.dim != "native" and not _PCA.match(self.dim):
            raise ConfigError(f"Field 'dim' must be native or pca:<k> (e.g. pca:384), got {self.dim!r}.")
        if self.pca_width is not None and self.pca_width < 2:
            raise ConfigError(f"Field 'dim': pca:<k> needs k of at least 2, got {self.dim!r}.")
        if self.vocab != "native" and not (self.vocab.startswith("shared:") and self.vocab.removeprefix("shared:")):
            raise ConfigError(f"Field 'vocab' must be native or shared:<checkpoint>, got {self.vocab!r}.")
        if self.max_length < 2:
            raise ConfigError(f"Field 'max_length' must be at least 2, got {self.max_length}.")
        if self.task in self.ood_tasks:
            raise ConfigError(f"Field 'ood_tasks' lists the training task {self.task!r}; name other tasks.")
        if len(set(self.ood_tasks)) != len(self.ood_tasks):
            raise ConfigError(f"Field 'ood_tasks' has duplicates: {self.ood_tasks}.")

    @property
    def pca_width(self) -> int | None:
        """k of `dim: pca:<k>`, None for native."""
        match = _PCA.match(self.dim)
        return int(match.group(1)) if match else None

    @property
    def shared_tokenizer(self) -> str | None:
        """The checkpoint of `vocab: shared:<checkpoint>`, None for native."""
        return self.vocab.removeprefix("shared:") if self.vocab != "native" else None
