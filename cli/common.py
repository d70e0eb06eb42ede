"""What every command shares: printing, and (from the SDK, which plugins' commands use
too) opening Kith from settings, running async code, and turning Kith's errors into one
clear line with a non-zero exit."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from kith.sdk.commands import KithCliError, open_kith, run, settings_from, with_kith

__all__ = ["KithCliError", "console", "open_kith", "run", "settings_from", "with_kith"]


class _Output:
    """Prints through rich, decided per call: a terminal gets its own width and colours;
    a pipe or file gets wide, plain lines, so nothing is cut off for scripts and tests."""

    def print(self, *objects: Any, **kwargs: Any) -> None:
        import sys

        is_tty = sys.stdout.isatty()
        Console(width=None if is_tty else 200, no_color=not is_tty).print(*objects, **kwargs)


console = _Output()
