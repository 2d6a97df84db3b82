"""The ``bbf`` fixture: the real BBF 1.5.0 in its own virtualenv, to compare our bots with."""

from __future__ import annotations

import pytest
from _bbf_venv import BBF
from _bbf_venv import bbf as build_bbf


@pytest.fixture(scope="session")
def bbf() -> BBF:
    """Build (once, cached under ``.cache/``) or find the BBF virtualenv.

    Without access to the package registry the first build fails with ``BBFVenvError``,
    which says so: these tests are never skipped.
    """
    return build_bbf()
