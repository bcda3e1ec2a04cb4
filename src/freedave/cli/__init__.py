"""The ``freedave`` command line. ``main`` is the entry point; one module per subcommand."""

from freedave.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
