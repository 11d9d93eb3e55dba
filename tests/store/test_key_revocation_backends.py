"""Regression (issue 22): a key revoked through one process stayed valid in another for up to
the key cache's lifetime; now every started process refuses it within a second."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from shopwise.api import create_app
from shopwise.auth import KeyKind
from shopwise.runtime import Runtime
from shopwise.settings import Settings


def test_a_key_revoked_through_one_process_is_refused_by_another_within_a_second(
    backend_settings: Settings,
) -> None:
    first = Runtime.build(backend_settings, migrate=True)
    second = Runtime.build(backend_settings)
    with (
        TestClient(create_app(backend_settings, first)) as one,
        TestClient(create_app(backend_settings, second)) as other,
    ):
        key, plaintext = first.keys.create(KeyKind.SECRET)
        headers = {"Authorization": f"Bearer {plaintext}"}
        # the other process has verified (and cached) the key
        assert other.get("/v1/catalog/products/none", headers=headers).status_code == 404
        assert one.get("/v1/catalog/products/none", headers=headers).status_code == 404
        first.keys.revoke(key.id)
        revoked = time.monotonic()
        assert one.get("/v1/catalog/products/none", headers=headers).status_code == 401
        while other.get("/v1/catalog/products/none", headers=headers).status_code != 401:
            assert time.monotonic() - revoked < 1.0, "still accepted a second after revocation"
            time.sleep(0.02)
