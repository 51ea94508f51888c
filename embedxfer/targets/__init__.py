"""Scoring models trained from scratch on top of a given token-embedding table (embedding_transfer's targets).

A target is written as its name followed by options, space-separated: ``bag``, ``transformer layers=2 heads=4``,
``cnn kernels=3/4/5 channels=64``; a bare name takes every default. Every target works at any embedding width (the
transformer's heads must divide it; `check_target` says which do).

    transformer  learned positions + pre-norm encoder layers at the embedding's width, masked mean pool
    lstm         (bi)LSTM over the packed sequence, the final states of the top layer
    cnn          1-D convolutions of several widths, ReLU, max over time (Kim 2014)
    bag          masked mean of the embeddings + an MLP

`spec` (names, options, parsing, checks) never imports torch, so configs parse without it; `models` holds the
modules, `build_scorer` and `scorer_parameters`.
"""

from embedxfer.targets.spec import (
    TARGETS,
    TargetKind,
    TargetOption,
    TargetSpec,
    check_target,
    parse_target,
    target_help,
)

__all__ = ["TARGETS", "TargetKind", "TargetOption", "TargetSpec", "check_target", "parse_target", "target_help"]
