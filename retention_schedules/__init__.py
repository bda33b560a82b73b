"""Retention schedule data shipped with the archiver.

The ``*.yaml`` files in this package hold NARA General Records Schedule items (and the
UNSCHEDULED fallback). Being a package lets them ship as package data and be found with
``importlib.resources.files("retention_schedules")`` after a regular ``pip install .``;
``archiver.core.retention.load_schedules`` reads and validates them.
"""
