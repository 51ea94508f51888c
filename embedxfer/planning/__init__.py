"""Quick what-if runs: what a trial depends on (recorder, keys), reusing finished trials (reuse), estimates that
learn from measured trials (estimates) and the plan preview the CLI and the New experiment page show (preview).

See docs/architecture.md, "Reuse and estimates". This package's `__init__` imports nothing, so the low-level
modules that report what a trial reads (checkpoint resolution, task loading) can import `planning.recorder`
without a cycle.
"""
