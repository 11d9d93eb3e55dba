"""What each small trick of the serving path saves against its plain form, in process.

Issue 20 kept a trick only where it is worth at least 5% of a request's CPU. Each removed trick is
timed against the plain form that replaced it, on the same input, in one process: the checked
shopper query remembered by its text (``api.serving`` kept it until issue 28 weighed its memory:
its last 20,000 distinct queries, nearly one a new request on a busy shop) against parsing and
checking it every time; the key text of an ``Authorization`` header remembered against parsing
the header, the key cache keyed by the plain-text key against keying it by the key's SHA-256, a
response with hand-set headers against Starlette's ``Response``, recommendation ids made from one
int's bytes against an f-string. The saving is set beside the server CPU a request of the last
committed serving run (``benchmarks/results/serve.json``, saturation), the cost the 5% rule of the
house is about; the server pays an in-process microsecond more than once
(``docs/performance.md``), so the share is a floor, not the exact figure. Medians of repeated
rounds.

Run: ``.venv/bin/python benchmarks/serve_tricks.py`` (writes ``benchmarks/results/serve_tricks.*``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from shopwise.api._auth import bearer_token
from shopwise.api.serving import parse_query, serving_request

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, machine, median, write_json

QUERY = b"placement=home&n=10&anonymous_id=a-3f2a9c8e1b7d4e6f"
HEADER = b"Bearer sw_write_0123456789ab_" + b"k" * 32
BODY = b'{"recommendation_id":"x","items":[' + b'{"product_id":"p-1","score":0.5},' * 10 + b"]}"
ROUNDS = 7
CALLS = 50_000


@functools.lru_cache(maxsize=20_000)
def _remembered_query(query_string: bytes) -> tuple[Any, str | None]:
    query = parse_query(query_string)
    return serving_request(query), query.user_hash


@functools.lru_cache(maxsize=1024)
def _remembered_token(header: bytes) -> str:
    return header.decode("latin-1").partition(" ")[2].strip()


class _HandSetResponse(Response):
    """The removed response that set its status, body and headers itself."""

    def __init__(self, body: bytes) -> None:
        self.status_code = 200
        self.background = None
        self.body = body
        self.raw_headers = [
            (b"content-length", b"%d" % len(body)),
            (b"content-type", b"application/json"),
        ]


def _timed(call: Callable[[], object]) -> float:
    """Median microseconds a call over :data:`ROUNDS` rounds."""
    call()
    return median([timeit.timeit(call, number=CALLS) / CALLS * 1e6 for _ in range(ROUNDS)])


def _pairs() -> dict[str, tuple[Callable[[], object], Callable[[], object]]]:
    """(trick, plain form) for each removed trick."""
    request = Request({"type": "http", "headers": [(b"authorization", HEADER)]})
    plaintext = HEADER.decode().partition(" ")[2]
    by_text = {plaintext: (0.0, None)}
    by_hash = {hashlib.sha256(plaintext.encode()).hexdigest(): (0.0, None)}
    ids = random.Random(0)
    return {
        "shopper query remembered by its text": (
            lambda: _remembered_query(QUERY),
            lambda: serving_request(parse_query(QUERY)),
        ),
        "Authorization key text remembered": (
            lambda: _remembered_token(HEADER),
            lambda: bearer_token(request),
        ),
        "key cache keyed by the plain-text key": (
            lambda: by_text.get(plaintext),
            lambda: by_hash.get(hashlib.sha256(plaintext.encode()).hexdigest()),
        ),
        "response headers set by hand": (
            lambda: _HandSetResponse(BODY),
            lambda: Response(BODY, media_type="application/json"),
        ),
        "recommendation id from one int's bytes": (
            lambda: (
                ((time.time_ns() // 1_000_000) << 80 | ids.getrandbits(80))
                .to_bytes(16, "big")
                .hex()
            ),
            lambda: f"{time.time_ns() // 1_000_000:012x}{ids.getrandbits(80):020x}",
        ),
    }


def _server_us() -> float | None:
    """Server CPU a request at saturation in the committed serving run, if there is one."""
    path = RESULTS / "serve.json"
    if not path.exists():
        return None
    saturation = json.loads(path.read_text())["median"]["recommendations@saturation"]
    return float(saturation["server_cpu_us_per_request"])


def render(result: dict[str, Any]) -> str:
    """The markdown report of a result."""
    server = result["server_cpu_us_per_request"]
    lines = [
        "# Serving-path tricks against their plain forms (in process)",
        "",
        f"Machine: {result['machine']['cpu_model']}, {result['machine']['cores']} cores (load "
        f"at start {result['machine']['load_avg_at_start']}; a plain Python loop ran at "
        f"{result['machine']['python_loop_ns']} ns an iteration). Command: "
        "`python benchmarks/serve_tricks.py`. Medians of "
        f"{result['rounds']} rounds of {result['calls']:,} calls.",
        "",
        "| trick | trick us | plain us | saving us | share of the server's CPU a request |",
        "|---|---|---|---|---|",
    ]
    for name, row in result["tricks"].items():
        share = f"{row['share_of_server_cpu']:.1%}" if server else "n/a"
        lines.append(
            f"| {name} | {row['trick_us']:.2f} | {row['plain_us']:.2f} | "
            f"{row['saving_us']:.2f} | {share} |"
        )
    total = sum(row["saving_us"] for row in result["tricks"].values())
    lines += [
        "",
        f"All together the tricks saved {total:.2f} us a request in process"
        + (
            f", {total / server:.1%} of the {server:.1f} us of server CPU a request at saturation "
            "in the committed serving run (`benchmarks/results/serve.json`)."
            if server
            else "."
        ),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    server = _server_us()
    tricks: dict[str, dict[str, float | None]] = {}
    for name, (trick, plain) in _pairs().items():
        trick_us, plain_us = _timed(trick), _timed(plain)
        saving = plain_us - trick_us
        tricks[name] = {
            "trick_us": round(trick_us, 3),
            "plain_us": round(plain_us, 3),
            "saving_us": round(saving, 3),
            "share_of_server_cpu": round(saving / server, 4) if server else None,
        }
    result = {
        "machine": machine(),
        "command": "python benchmarks/serve_tricks.py",
        "rounds": ROUNDS,
        "calls": CALLS,
        "server_cpu_us_per_request": server,
        "tricks": tricks,
    }
    write_json(RESULTS / "serve_tricks.json", result)
    (RESULTS / "serve_tricks.md").write_text(render(result), encoding="utf-8")
    print(render(result))


if __name__ == "__main__":
    main()
