"""The dashboard's page layer: Streamlit helpers shared by app.py and app_pages/ (never imported by the library).

- `services`: the per-process singletons (job manager, store) and cached catalog lookups
- `forms`: widgets generated from an experiment config dataclass
- `common`: small rendering helpers (statuses, times, empty states)
- `sidebar`: device, queue and store location
- `experiment_view`: one experiment's actions and live progress
- `results`: one experiment's summary, figures and downloads
"""
