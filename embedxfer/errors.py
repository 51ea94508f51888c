"""User-facing errors.

Every error a user can cause (a bad id, a bad path, a bad config field) is raised as an
`EmbedxferError` whose message is one actionable sentence: what was wrong and what was
expected. The CLI prints that sentence alone; pages show it in `st.error`.
"""


class EmbedxferError(Exception):
    """Base class for errors caused by user input; the message is shown as-is."""


class CheckpointError(EmbedxferError):
    """A checkpoint id, folder or file cannot be used."""


class TaskError(EmbedxferError):
    """A task name, data file or task option cannot be used."""


class PartError(EmbedxferError):
    """A part name or a weight copy between models does not fit."""


class ConfigError(EmbedxferError):
    """An experiment config is malformed (unknown kind, unknown field, wrong type or value)."""


class StoreError(EmbedxferError):
    """An experiment or trial id is unknown, or the store cannot be used."""
