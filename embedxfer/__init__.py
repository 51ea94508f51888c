"""embedxfer: which parts of a pretrained model carry over to another model or task.

The package is a plain library (no Streamlit). Heavy dependencies (torch, transformers)
are imported inside the modules that need them, so `import embedxfer` stays cheap.
"""

__version__ = "0.1.0"
