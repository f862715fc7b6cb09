"""engine sub-package."""
