"""Run the command line: ``python -m runtime <verb> BOT`` (see :mod:`runtime.cli`)."""

from runtime.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
