"""The `checkpoint` command line, one module per group of commands."""

from gateway.cli.main import main

__all__ = ["main"]
