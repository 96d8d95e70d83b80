"""The `facenet` command line (entry point `engine.cli:main`)."""

from engine.cli.main import main

__all__ = ["main"]
