"""The index: its format (manifest, folder, storage, ANN graph, BM25, stored sentences), what a build has
to do and doing it, the embedders, and the PostgreSQL store."""
