"""A check several kinds' tests share: train a model briefly on a vector task, then its frozen parameters are
bit-identical and at least one trainable one moved."""

from __future__ import annotations

import torch


def assert_only_trainable_parameters_move(model: torch.nn.Module, task_name: str, steps: int) -> None:
    """Train `model` for `steps` Adam steps on `task_name` (a vector task such as bit-xor); parameters without
    requires_grad must come out bit-identical, and some parameter with it must have changed."""
    from embedxfer.data import encode_split
    from embedxfer.engine import TrainSettings, train_model
    from embedxfer.tasks import load_task

    frozen = {n: p.detach().clone() for n, p in model.named_parameters() if not p.requires_grad}
    trained = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    task = load_task(task_name)
    settings = TrainSettings(max_steps=steps, lr=1e-2, optimizer="adam", schedule="constant", batch_size=8)
    train_model(model, encode_split(task.train, "vectors"), classes=2, metric="accuracy", settings=settings)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[n], before) for n, before in frozen.items())
    assert any(not torch.equal(after[n], before) for n, before in trained.items())
