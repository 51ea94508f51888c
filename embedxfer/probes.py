"""Probes: scikit-learn classifiers fitted on frozen features, with a shuffled-label control.

A probe reads a task from one layer's pooled representation (`embedxfer.features`). Features are standardized
(mean 0, variance 1, fitted on the training rows) before the probe sees them.

- `logistic`: multinomial logistic regression. Its L2 strength is chosen on the training split only: 3-fold
  stratified cross-validation over C in `LOGISTIC_CS`, the C with the best mean fold accuracy wins, then the probe
  is refitted on all training rows with it. The test split is never looked at while choosing.
- `mlp`: one hidden layer of 256 ReLU units (classification or regression), its L2 strength `alpha` chosen from
  `MLP_ALPHAS` on a 20% hold-out of the training rows, then refitted on all of them.

The control probe is the same procedure fitted on the training labels shuffled (seeded), scored against the true
test labels: it shows what a probe gets from the label distribution alone (about the majority-class share), and
*selectivity* = test metric - control metric is what the layer adds beyond that.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from embedxfer.errors import ConfigError

PROBES = ("logistic", "mlp")
CONTROLS = ("shuffled-labels", "none")
LOGISTIC_CS = (0.001, 0.01, 0.1, 1.0, 10.0)
MLP_ALPHAS = (1e-4, 1e-2, 1.0)


@dataclass(frozen=True)
class ProbeScore:
    """A fitted probe's test score, and the regularization it chose on the training split."""

    score: float
    strength: float


def check_probe(probe: str, label_kind: str, task_name: str, fix: str = "use probe: mlp") -> None:
    """ConfigError for a probe that cannot read this task's labels; `fix` says what the user can change."""
    if probe not in PROBES:
        raise ConfigError(f"Field 'probe' must be one of {', '.join(PROBES)}, got {probe!r}.")
    if probe == "logistic" and label_kind != "classes":
        raise ConfigError(
            f"Task {task_name!r} has regression labels; a logistic probe needs classes. Pick a classification "
            f"task such as tweets-binary, or {fix}."
        )


def fit_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    test_x: np.ndarray,
    test_y: np.ndarray,
    *,
    probe: str = "logistic",
    metric: str = "accuracy",
    seed: int = 0,
) -> ProbeScore:
    """Fit `probe` on the training rows (regularization chosen on them alone) and score it on the test rows."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.preprocessing import StandardScaler

    from embedxfer.heads import task_metric  # the metric finetuning reports, so probe and finetune numbers compare

    if probe not in PROBES:
        raise ConfigError(f"Unknown probe {probe!r}; choose one of {', '.join(PROBES)}.")
    scaler = StandardScaler().fit(train_x)
    train_x, test_x = scaler.transform(train_x), scaler.transform(test_x)
    with warnings.catch_warnings():
        # an iteration cap reached on a weakly separable layer is part of the result, not a problem to report
        warnings.simplefilter("ignore", ConvergenceWarning)
        if probe == "logistic":
            model, strength = _logistic(train_x, train_y, seed)
        else:
            model, strength = _mlp(train_x, train_y, seed, regression=metric == "pearson")
    return ProbeScore(score=task_metric(metric, model.predict(test_x), test_y), strength=strength)


def shuffled(labels: np.ndarray, seed: int) -> np.ndarray:
    """The labels permuted with a generator of its own, so the control differs from the probe's data order."""
    return np.random.default_rng([seed, 7919]).permutation(labels)


def _logistic(x: np.ndarray, y: np.ndarray, seed: int):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    counts = np.bincount(y.astype(np.int64))
    folds = int(min(3, counts[counts > 0].min()))
    best_c = LOGISTIC_CS[len(LOGISTIC_CS) // 2]
    if folds >= 2 and len(np.unique(y)) > 1:
        splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
        means = [
            cross_val_score(LogisticRegression(C=c, max_iter=500), x, y, cv=splitter, scoring="accuracy").mean()
            for c in LOGISTIC_CS
        ]
        best_c = LOGISTIC_CS[int(np.argmax(means))]
    return LogisticRegression(C=best_c, max_iter=1000).fit(x, y), best_c


def _mlp(x: np.ndarray, y: np.ndarray, seed: int, *, regression: bool):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    from embedxfer.heads import task_metric

    cls = MLPRegressor if regression else MLPClassifier

    def make(alpha: float):
        return cls(hidden_layer_sizes=(256,), alpha=alpha, max_iter=300, early_stopping=False, random_state=seed)

    order = np.random.default_rng(seed).permutation(len(y))
    cut = max(1, len(y) // 5)
    held, fit_rows = order[:cut], order[cut:]
    best_alpha, best = MLP_ALPHAS[0], -np.inf
    for alpha in MLP_ALPHAS:
        model = make(alpha).fit(x[fit_rows], y[fit_rows])
        value = task_metric("pearson" if regression else "accuracy", model.predict(x[held]), y[held])
        if value > best:
            best_alpha, best = alpha, value
    return make(best_alpha).fit(x, y), best_alpha
