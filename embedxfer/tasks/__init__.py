"""Tasks: named datasets with fixed seeded splits (text, token and vector modalities).

`list_tasks()` describes every task without loading data; `load_task(name, **options)` builds
one (cached). Built-in tasks live one family per module (tweets, valence, digits, synthetic,
listops); user files and Hugging Face datasets come from `files`. This package imports numpy
(and pandas inside loaders) but never torch, so `embedxfer tasks` stays fast.
"""

from embedxfer.tasks.base import Split, Task, TaskEntry, split_indices
from embedxfer.tasks.files import load_file_task
from embedxfer.tasks.registry import (
    FILE_SYNTAX,
    clear_cache,
    get_entry,
    list_tasks,
    load_task,
    register_task,
    task_metric,
    task_names,
)

__all__ = [
    "FILE_SYNTAX",
    "Split",
    "Task",
    "TaskEntry",
    "clear_cache",
    "get_entry",
    "list_tasks",
    "load_file_task",
    "load_task",
    "register_task",
    "split_indices",
    "task_metric",
    "task_names",
]
