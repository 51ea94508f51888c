"""The actor between running trials and the driver: trials post progress and metrics, the driver takes them.

Running trials post batches (at most every `POST_SECONDS`) and learn in the reply whether they are asked to
stop; the driver takes everything posted so far on each turn of its loop and writes it to the store. The
actor holds no state that matters after a crash: a lost batch costs live progress, never a final result
(those come back as the task's return value).
"""

from __future__ import annotations

from typing import Any

#: how often a running trial posts what it reported (seconds); also how late it hears of a cancel at most
POST_SECONDS = 0.5


class Mailbox:
    """Created by the driver as a Ray actor (``ray.remote(num_cpus=0)(Mailbox)``)."""

    def __init__(self) -> None:
        self._messages: list[tuple[str, list[tuple[str, Any]]]] = []
        self._stop: set[str] = set()

    def post(self, trial_id: str, batch: list[tuple[str, Any]]) -> bool:
        """A trial's batch of ("start" | "progress" | "metrics", payload); returns whether it should stop."""
        if batch:
            self._messages.append((trial_id, batch))
        return trial_id in self._stop

    def take(self) -> list[tuple[str, list[tuple[str, Any]]]]:
        messages, self._messages = self._messages, []
        return messages

    def stop(self, trial_ids: list[str]) -> None:
        self._stop.update(trial_ids)

    def forget(self, trial_ids: list[str]) -> None:
        """Clear stop marks of trials that ended (a retried or resumed trial starts unmarked)."""
        self._stop.difference_update(trial_ids)
