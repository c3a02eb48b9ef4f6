"""The `imagehub` command line: one module per command group."""

from imagehub.cli.main import main

__all__ = ["main"]
