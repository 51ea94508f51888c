"""Analyses that need no training: token tables and vocabulary alignment, projections with an on-disk cache,
similarity between embedding matrices, neighbours and token colourings (docs/architecture.md, "Embedding
explorer"). Pure numpy/scikit-learn/umap; the explorer kinds (`embedding_map`, `embedding_similarity`,
`layer_map`) and the Explorer page use it."""
