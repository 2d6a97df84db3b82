"""argparse ``type`` readers shared by the command line's verbs (one wording per mistake)."""

from __future__ import annotations

import argparse
import math

__all__ = ["rate", "whole_number"]


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
