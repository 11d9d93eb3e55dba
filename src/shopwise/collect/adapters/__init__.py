"""Adapters that turn public shop datasets into catalog rows and event envelopes.

Each adapter reads one dataset and returns what a shop would have sent: catalog rows for the
catalog service and event dicts for the ingestion service, with deterministic message ids so a
re-import is deduplicated. ``uci`` covers the UCI Online Retail invoice file.
"""

from shopwise.collect.adapters.uci import UciConfig, UciImport, UciReport, convert_uci, read_uci

__all__ = ["UciConfig", "UciImport", "UciReport", "convert_uci", "read_uci"]
