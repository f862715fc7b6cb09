"""Import order quirk of mace-torch 0.3.16 under torch 2.13, kept in one place.

e3nn's module-level ``torch.load`` of its constants fails under torch >= 2.6
unless ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` is set, and mace sets that variable
when it is imported. Importing mace first therefore makes e3nn importable.
The variable only changes ``torch.load`` calls that do not pass
``weights_only``: every load in macefield-flows passes it explicitly.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    # e3nn's own constants load triggers torch's TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD notice
    warnings.simplefilter("ignore", UserWarning)
    import mace  # noqa: F401  (must precede e3nn)
    from e3nn import o3  # noqa: E402

__all__ = ["o3"]
