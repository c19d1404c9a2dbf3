"""Base-image factory: stack definitions in, linted multi-arch base images out."""

__version__ = "0.1.0"
