"""``@segment/analytics-node`` from npm, driven under ``node --test`` against ``shopwise serve``.

The journey and its assertions live in ``node/journey.test.mjs``; this test starts the server and
the lossy proxy, runs node, and checks that the SDK really had to retry. It skips when node or the
npm packages are missing (install them with ``npm ci`` in ``tests/compat/node``).
"""

from __future__ import annotations

import subprocess

from tests.compat.conftest import NODE_DIR, LiveServer, LossyProxy, node_with_sdk


def test_analytics_node_journey(live_server: LiveServer, lossy_proxy: LossyProxy) -> None:
    node = node_with_sdk()
    env = {
        **live_server.env,
        "SHOPWISE_URL": live_server.url,
        "SHOPWISE_PROXY_URL": lossy_proxy.url,
        "SHOPWISE_WRITE_KEY": live_server.write_key,
        "SHOPWISE_TEST_SECRET_API_KEY": live_server.secret_key,
    }
    run = subprocess.run(
        [node, "--test"], cwd=NODE_DIR, env=env, capture_output=True, text=True, timeout=180
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "# pass 1" in run.stdout and "# skipped 0" in run.stdout, run.stdout
    assert lossy_proxy.dropped == 1, "the proxy should have forced one retry"
    assert len(live_server.profile_events("node-user")) == 7
