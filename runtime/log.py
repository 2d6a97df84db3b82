"""Logging helpers: structlog loggers with a session's context bound once.

The library only creates loggers; it never calls ``structlog.configure()``. The CLI does
(:func:`configure_cli_logging`), and applications configure structlog as they like. The event
kind is logged as ``event_kind`` because structlog reserves the ``event`` key for the log
message itself.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

__all__ = ["configure_cli_logging", "get_logger"]


def get_logger(**context: Any) -> Any:
    """Return the runtime's structlog logger with ``context`` bound."""
    return structlog.get_logger("runtime").bind(**context)


def configure_cli_logging(level: int = logging.WARNING) -> None:
    """Configure structlog for the command line: readable lines on stderr from ``level`` up."""
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="%H:%M:%S"),
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
