"""physics sub-package."""
