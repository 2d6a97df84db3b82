"""Helpers shared by some catch bots: imported normally, so every copy of a bot shares them.

The isolation checker loads a fresh copy of the bot module for every run, but a module the bot
imports (this one) is loaded once per process. ``Money`` carries a class attribute that one racy
bot (``helper_currency.py``) changes per user; ``format_amount`` and ``TAX_RATES`` are pure and
read-only, used by a clean bot (``helper_pure.py``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import ClassVar

TAX_RATES = MappingProxyType({"books": 0.04, "food": 0.10, "tools": 0.21})
"""Tax per product family: read-only (a mapping proxy), so sharing it is safe."""


def format_amount(cents: int, currency: str) -> str:
    """Return ``cents`` as ``12.34 EUR``: a pure function of its arguments."""
    return f"{cents // 100}.{cents % 100:02d} {currency}"


class Money:
    """Formats amounts in the currency chosen last: one class attribute for the whole process."""

    currency: ClassVar[str] = "EUR"

    @classmethod
    def format(cls, cents: int) -> str:
        """Return ``cents`` in the class's current currency."""
        return format_amount(cents, cls.currency)
