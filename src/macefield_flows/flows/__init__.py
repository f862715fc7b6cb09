"""flows sub-package."""
