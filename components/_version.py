"""The package version: the one place it is written (pyproject.toml reads it, CHANGELOG.md names it)."""

__version__ = "0.2.0"
