"""stores sub-package."""
