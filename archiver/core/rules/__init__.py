"""The shipped classifier rules (``classifier.yaml``), kept as package data.

This package holds no code: it exists so ``importlib.resources`` can find the default rules
file wherever the archiver is installed. An agency that wants other rules points the
classifier at its own file instead of editing this one.
"""
