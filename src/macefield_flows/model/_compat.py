"""Import order quirk of mace-torch 0.3.16 under torch 2.13, kept in one place.

e3nn's module-level ``torch.load`` of its constants fails under torch >= 2.6
unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set, and mace sets that variable
when it is imported. Importing mace first therefore makes e3nn importable.

The variable makes *every* later ``torch.load`` that does not pass
``weights_only`` unpickle arbitrary code, in the user's code too. Once mace and
e3nn are imported it is no longer needed (every load in macefield-flows passes
``weights_only`` explicitly), so the variable is put back as it was before
mace was imported: user code keeps torch's safe default. Set
``MACEFIELD_KEEP_TORCH_LOAD_OVERRIDE=1`` to keep mace's setting (e.g. for
scripts that call mace's own loaders, which do not pass ``weights_only``).
If mace was imported before macefield-flows, the variable is left alone.
"""

from __future__ import annotations

import os
import sys
import warnings

TORCH_LOAD_ENV = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"
KEEP_OVERRIDE_ENV = "MACEFIELD_KEEP_TORCH_LOAD_OVERRIDE"

_MACE_ALREADY_IMPORTED = "mace" in sys.modules
_BEFORE = os.environ.get(TORCH_LOAD_ENV)

with warnings.catch_warnings():
    # e3nn's own constants load triggers torch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD notice
    warnings.simplefilter("ignore", UserWarning)
    import mace  # noqa: F401  (must precede e3nn)
    from e3nn import o3  # noqa: E402


def restore_torch_load_env() -> bool:
    """Put ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` back as it was before mace's import.

    Returns True when the environment was changed. Does nothing when
    ``MACEFIELD_KEEP_TORCH_LOAD_OVERRIDE`` is set to 1/true/yes or when mace
    had been imported before macefield-flows.
    """
    if _MACE_ALREADY_IMPORTED:
        return False
    if os.environ.get(KEEP_OVERRIDE_ENV, "").strip().lower() in ("1", "true", "yes"):
        return False
    current = os.environ.get(TORCH_LOAD_ENV)
    if current == _BEFORE:
        return False
    if _BEFORE is None:
        os.environ.pop(TORCH_LOAD_ENV, None)
    else:
        os.environ[TORCH_LOAD_ENV] = _BEFORE
    return True


restore_torch_load_env()

__all__ = ["KEEP_OVERRIDE_ENV", "TORCH_LOAD_ENV", "o3", "restore_torch_load_env"]
