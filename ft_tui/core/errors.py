"""Errors shared across core: each says what is wrong and what to do.

They live here, below every step's package, so data, training, evaluation and export can
raise and catch them without importing each other.
"""

from __future__ import annotations


class SetupError(ValueError):
    """The run cannot start as configured; the message says what is wrong and what to do."""


class ModelNotFound(LookupError):
    """The model cannot be found (locally or on the hub); the message says what to do."""
