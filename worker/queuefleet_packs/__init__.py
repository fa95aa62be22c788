"""Workflow packs shipped with queuefleet, one task queue each.

Every pack is a subpackage with `workflows.py`, `activities.py` and a registrar listed in the
`queuefleet.registrars` entry-point group, so the worker runtime finds it like a user's pack.
"""
