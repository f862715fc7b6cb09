"""model sub-package."""
