"""The `queuefleet` command line: a dispatcher over the worker's, operator's and packs'
subcommands, and the error type they share. It imports nothing of theirs until one runs.
"""
