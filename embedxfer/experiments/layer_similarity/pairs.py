"""The layer pairs a layer_similarity experiment found best, for other kinds to use (stitching's `pairs: best:<id>`)."""

from __future__ import annotations

from embedxfer.errors import ConfigError, EmbedxferError


def best_pairs(experiment_id: str, checkpoint_a: str, checkpoint_b: str) -> list[tuple[int, int]]:
    """[(i, j)]: for each hidden state i of A, the most similar hidden state j of B in a finished layer_similarity
    experiment of exactly these checkpoints (its CKA grid when it has one, else its first measure)."""
    from embedxfer.experiments.layer_similarity.figures import best_matches, read_grids
    from embedxfer.experiments.outputs import ExperimentData
    from embedxfer.store import Store

    store = Store()
    try:
        experiment = store.get_experiment(experiment_id)
        trials = store.snapshot(experiment_id).metrics_frame()
    except EmbedxferError as exc:
        raise ConfigError(f"pairs: best:{experiment_id} names no experiment in this store ({exc}).") from exc
    result = {key: experiment[key] for key in ("experiment_id", "kind", "config")}
    data = ExperimentData(result, trials, trials.iloc[0:0], "", store_root=str(store.root))
    if data.kind != "layer_similarity":
        raise ConfigError(
            f"pairs: best:{experiment_id} names a {data.kind} experiment; give the id of a layer_similarity "
            f"experiment of {checkpoint_a} and {checkpoint_b}."
        )
    config = data.result["config"]["checkpoints"]
    pair = (config[0], config[-1])
    if pair != (checkpoint_a, checkpoint_b):
        raise ConfigError(
            f"pairs: best:{experiment_id} compared {pair[0]} with {pair[1]}, not {checkpoint_a} with {checkpoint_b}; "
            "run layer_similarity on these checkpoints first (same order: A, then B)."
        )
    try:
        grids = read_grids(data)
    except EmbedxferError as exc:
        raise ConfigError(f"pairs: best:{experiment_id} has no finished grid yet; wait for it or resume it.") from exc
    grid = grids.get("cka") or next(iter(grids.values()))
    return list(enumerate(best_matches(grid)))
