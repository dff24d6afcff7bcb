"""Processing stages: small functions over one ``mediawatch.records.Article``.

Each stage is usable and tested on its own; I/O (reading batches, indexing) stays at the edges.
"""
