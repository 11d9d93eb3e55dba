"""API and consumers in separate runtimes on one store, as `serve` + `shopwise worker` run."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from shopwise.runtime import Runtime
from shopwise.settings import Settings


def test_identify_waits_for_a_consumer_in_another_process(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    api = Runtime.build(settings, migrate=True)
    worker = Runtime.build(settings)
    api.start(consumers=False)
    try:
        anon = {
            "message_id": uuid.uuid4().hex,
            "type": "product_viewed",
            "anonymous_id": "a9",
            "timestamp": datetime.now(UTC).isoformat(),
            "properties": {"product_id": "p1"},
        }
        login = {**anon, "message_id": uuid.uuid4().hex, "user_id": "u9"}
        result = api.collector.ingest([anon, login])
        # no consumer runs yet anywhere: the API cannot claim the profile is current
        assert api.bus.wait_until_consumed(result.last_event_id, timeout=0.2) is False
        worker.start()  # the worker's consumers pick the events up from the shared store
        assert api.bus.wait_until_consumed(result.last_event_id, timeout=10)
        view = api.profiles.get("a9")
        assert view is not None and view.user_ids == ["u9"] and view.state.events == 2
    finally:
        worker.stop()
        api.stop()
