"""Hot reload: requests keep succeeding while a new champion is promoted and swapped in."""

from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path

from fastapi.testclient import TestClient

from shopwise.recommend import Popularity
from shopwise.registry import Champion, ModelRegistry
from shopwise.runtime import Runtime
from shopwise.serving import AnswerCache

Shop = tuple[TestClient, Runtime, dict[str, dict[str, str]]]

SWAPS = 3
BETWEEN = 10
"""Requests answered between two swaps, so that every version serves some."""


def _promote(
    runtime: Runtime, versions: list[str], answered: threading.Semaphore, released: list[bool]
) -> None:
    """What a training job does (save the champion's artifact as a new version, promoted), then
    what serving's background check does (load it and swap it in), while requests go on; notes
    whether each replaced champion was freed by the time the swap returned."""
    artifact = runtime.recommenders.load(versions[0])
    for _ in range(SWAPS):
        for _ in range(BETWEEN):
            answered.acquire(timeout=30)
        versions.append(runtime.recommenders.save(artifact, {"model": "transition"}))
        replaced = weakref.ref(runtime.champion.get())
        assert runtime.champion.refresh()
        released.append(replaced() is None)


def test_requests_succeed_and_the_new_champion_is_served_after_each_swap(shop: Shop) -> None:
    client, runtime, keys = shop
    assert runtime.champion.version is not None
    versions = [runtime.champion.version]
    answered = threading.Semaphore(0)
    released: list[bool] = []
    promoter = threading.Thread(target=_promote, args=(runtime, versions, answered, released))
    promoter.start()
    seen: list[str] = []
    while promoter.is_alive() or len(seen) < (SWAPS + 1) * BETWEEN:
        params = {"placement": "home", "anonymous_id": f"s{len(seen) % 40}", "n": 5}
        response = client.get("/v1/recommendations", params=params, headers=keys["secret"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["degraded"] == [] and len(body["items"]) == 5
        seen.append(body["model_version"])
        answered.release()
    promoter.join()
    assert runtime.champion.last_error is None
    assert len(versions) == SWAPS + 1 and runtime.champion.version == versions[-1]
    # every version served in turn, and once a newer one is served no older one comes back
    order = [versions.index(v) for v in seen]
    assert order == sorted(order) and set(order) == set(range(SWAPS + 1))
    assert seen[-1] == versions[-1]
    # nothing serving keeps (answers, session lists) holds a replaced model alive
    assert released == [True] * SWAPS


def _champion(tmp_path: Path, value: Popularity) -> tuple[ModelRegistry, Champion[Popularity]]:
    registry = ModelRegistry(tmp_path, "recommenders")
    registry.save(value, {})
    champion: Champion[Popularity] = Champion(registry)
    assert champion.refresh()
    return registry, champion


def test_the_replaced_champion_is_freed_in_the_reload_thread_after_its_readers(
    tmp_path: Path,
) -> None:
    registry, champion = _champion(tmp_path, Popularity(overall=[("p1", 1.0)]))
    retired_in: list[str] = []
    swapped = threading.Event()

    def retire(old: Popularity) -> None:
        retired_in.append(threading.current_thread().name)
        swapped.set()

    champion.on_swap(retire)
    freed_in: list[str] = []
    weakref.finalize(champion.get(), lambda: freed_in.append(threading.current_thread().name))

    def request(held: Popularity | None) -> None:  # read before the swap, done after it
        swapped.wait(5)
        time.sleep(0.05)

    reader = threading.Thread(target=request, args=(champion.get(),), name="request")
    reader.start()
    registry.save(Popularity(overall=[("p2", 2.0)]), {})
    reload = threading.Thread(target=champion.refresh, name="reload")
    reload.start()
    reload.join(5)
    reader.join(5)
    assert champion.get() == Popularity(overall=[("p2", 2.0)])
    assert retired_in == ["reload"] and freed_in == ["reload"]


def test_answers_of_a_retired_champion_are_dropped_and_never_stored_again() -> None:
    cache: AnswerCache[str] = AnswerCache()
    old, new, rules = Popularity(), Popularity(), object()
    cache.put("a", (old, rules), (), "old a")
    cache.retire(Popularity())  # not in the generation: nothing goes
    assert cache.get("a", (old, rules), ()) == "old a"
    cache.retire(old)
    assert len(cache) == 0 and cache.get("a", (old, rules), ()) is None
    cache.put("b", (new, rules), (), "new b")
    # a request that read the old champion before the swap and answers after it
    cache.put("a", (old, rules), (), "old a")
    assert cache.get("a", (old, rules), ()) is None and cache.get("a", (new, rules), ()) is None
    assert cache.get("b", (new, rules), ()) == "new b" and len(cache) == 1
