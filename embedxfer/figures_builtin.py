"""Figures for the built-in experiment kinds."""

from __future__ import annotations

import plotly.graph_objects as go

from embedxfer.figures import ExperimentData, register_figure
from embedxfer.plots import plot_condition_summary, plot_training_curves


@register_figure("finetune", "summary", "Test metric by condition")
def finetune_summary(data: ExperimentData) -> go.Figure:
    metric = data.primary_metric()
    return plot_condition_summary(data.completed(), metric, title=f"{data.experiment_id}: {metric} by condition")


@register_figure("finetune", "train_loss", "Training loss")
def finetune_loss(data: ExperimentData) -> go.Figure:
    return plot_training_curves(data.steps, "train_loss", title=f"{data.experiment_id}: training loss")


@register_figure("finetune", "val_curve", "Validation metric during training")
def finetune_val_curve(data: ExperimentData) -> go.Figure:
    metric = "val_" + data.primary_metric().removeprefix("test_")
    return plot_training_curves(data.steps, metric, title=f"{data.experiment_id}: {metric}")
