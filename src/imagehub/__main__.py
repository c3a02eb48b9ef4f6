"""Allow `python -m imagehub`."""

from imagehub.cli import main

main()
