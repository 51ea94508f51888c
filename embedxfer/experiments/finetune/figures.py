"""finetune's figures: the test metric per condition, and training-loss and validation curves."""

from embedxfer.experiments.figure_builders import condition_summary, metric_curve, validation_metric
from embedxfer.experiments.outputs import FigureSpec

FIGURES = (
    FigureSpec("summary", "Test metric by condition", condition_summary),
    FigureSpec("train_loss", "Training loss", metric_curve("train_loss", "training loss")),
    FigureSpec("val_curve", "Validation metric during training", metric_curve(validation_metric, "")),
)
