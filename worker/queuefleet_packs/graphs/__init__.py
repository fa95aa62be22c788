"""The graph executor pack: workflow graphs given as JSON at run time (queue `graphs.v1`).

Kept free of imports so workflow code can import its modules without pulling in the
registrar; the registrar lives in `queuefleet_packs.graphs.registrar`.
"""
