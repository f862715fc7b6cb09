"""Exception hierarchy of macefield-flows.

Every error carries the data needed to act on it (which structure, which file,
which element) in its message.
"""

from __future__ import annotations


class MacefieldError(Exception):
    """Base class of every error raised on purpose by macefield-flows."""


class ModelLoadError(MacefieldError):
    """A model file is missing, corrupt, of an unknown format, or untrusted."""


class UntrustedPickleError(ModelLoadError):
    """A pickled model was refused because ``trust_pickle=True`` was not given."""


class MissingFieldBlocksError(MacefieldError):
    """A field property was asked of a model that has no field-coupling blocks."""


class UnknownElementError(MacefieldError):
    """A structure contains an element that the model was not trained on."""


class InvalidStructureError(MacefieldError):
    """A structure cannot be evaluated (overlapping atoms, no neighbours, NaN output...)."""


class ReferenceDataError(MacefieldError):
    """Reference data are missing or malformed."""


class StoreError(MacefieldError):
    """A results store cannot be reached or written."""
