"""The browser tests reuse the in-thread shopwise of the compatibility tests."""

from __future__ import annotations

from tests.compat.conftest import edge_server

__all__ = ["edge_server"]
