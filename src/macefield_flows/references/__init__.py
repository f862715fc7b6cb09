"""references sub-package."""
