"""argparse ``type`` readers shared by the command line's verbs (one wording per mistake)."""

from __future__ import annotations

import argparse
import math

__all__ = ["add_compat", "rate", "whole_number"]


def add_compat(parser: argparse.ArgumentParser) -> None:
    """Add ``--compat bbf``: load the bot through the BBF 1.5 compatibility layer."""
    parser.add_argument(
        "--compat",
        choices=["bbf"],
        default=None,
        help="load BOT as a BBF 1.5 bot file (automatic when the file imports besser.bot; "
        "needed when only a module it imports does)",
    )


def whole_number(value: str) -> int:
    """Read a whole number, or say what was given instead."""
    try:
        return int(value)
    except ValueError:  # not a number, or more digits than int() reads
        shown = value if len(value) <= 20 else value[:17] + "..."
        raise argparse.ArgumentTypeError(f"expected a whole number, got {shown!r}") from None


def rate(value: str) -> float:
    """Read a positive, finite number per second."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected messages per second, got {value!r}") from None
    if not 0 < number < math.inf:
        raise argparse.ArgumentTypeError(f"the rate must be a positive number, got {value!r}")
    return number
