"""jobs sub-package."""
