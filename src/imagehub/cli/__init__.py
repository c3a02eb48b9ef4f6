"""The `imagehub` command line: one module per command group.

`main` holds the root group with `serve` and `gc`; `models` the `models pull` and `models check`
commands; `accounts` the `keys` and `usage` groups; `generate` the client command; `engine` the
GPU tier's `engine serve` and `engine ray`; `startup_report` what `serve` says before it listens.
The top layer: it may import anything.
"""

from imagehub.cli.main import main

__all__ = ["main"]
