"""``python -m kith.cli``: the ``kith`` command, for environments without the script."""

from kith.cli.main import main

main()
