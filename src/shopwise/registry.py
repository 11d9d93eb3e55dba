"""Versioned model artifacts, the champion pointer, and hot reload for serving.

Each training run saves an artifact under ``<models_dir>/<family>/<version>/`` (the pickled
artifact plus ``meta.json``: what the run recorded, its size and save time, and later the gate's
decision) and may promote it to champion by rewriting ``champion.json`` atomically. The pointer
keeps the champions it replaced, so :meth:`ModelRegistry.rollback` restores the previous one at
once; a version that is neither champion nor an earlier one is a ``challenger`` (the gate refused
it) or ``retired``. Serving holds the champion in memory and swaps in a newly promoted one from a
background check, without a restart. Artifacts are written by shopwise's own training jobs and
are trusted input; do not load artifacts from elsewhere. Artifacts saved before the model
packages moved (``shopwise.models.*``) still load: their classes are looked up where they live
now (:data:`MOVED`).
"""

from __future__ import annotations

import logging
import os
import pickle
import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Generic, TypeVar

import orjson

from shopwise.files import open_private, private_dir, write_private
from shopwise.periodic import Periodic

log = logging.getLogger("shopwise.registry")

T = TypeVar("T")

ARTIFACT = "artifact.pkl"
META = "meta.json"
CHAMPION = "champion.json"
MAX_PREVIOUS: Final = 20
"""Earlier champions the pointer keeps for :meth:`ModelRegistry.rollback`."""

MOVED: Final = (
    ("shopwise.models.training", "shopwise.recommend.artifacts"),
    ("shopwise.models.candidates", "shopwise.recommend.candidates"),
    ("shopwise.models.ranking", "shopwise.recommend.ranking"),
    ("shopwise.models.pipeline", "shopwise.recommend.pipeline"),
    ("shopwise.models._customer_models", "shopwise.customers._artifacts"),
    ("shopwise.models.propensity", "shopwise.customers.propensity"),
    ("shopwise.models.clv", "shopwise.customers.clv"),
    ("shopwise.models.segments", "shopwise.customers.segments"),
)
"""Module prefixes of pickled classes, before and after the model packages moved."""


class _Unpickler(pickle.Unpickler):
    """Reads artifacts pickled under the old module paths (:data:`MOVED`)."""

    def find_class(self, module: str, name: str) -> Any:
        for old, new in MOVED:
            if module == old or module.startswith(old + "."):
                module = new + module[len(old) :]
                break
        return super().find_class(module, name)


def new_version() -> str:
    """A sortable version id: UTC time to the millisecond."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")[:-4] + "Z"


class ModelRegistry:
    """Artifacts of one model family (for example ``recommenders``)."""

    def __init__(self, models_dir: Path, family: str, keep: int | None = None) -> None:
        """``keep``: how many of the newest versions :meth:`save` keeps besides the champion
        and the earlier champions a rollback may restore (``None``: every version)."""
        if keep is not None and keep < 1:
            raise ValueError(f"keep must be at least 1, not {keep}")
        self.root = models_dir / family
        self.keep = keep

    def save(self, artifact: object, meta: dict[str, Any], promote: bool = True) -> str:
        """Save ``artifact`` as a new version with ``meta`` (its size and save time added);
        ``promote`` makes it the champion at once."""
        version, folder = self._new_folder()
        with open_private(folder / ARTIFACT) as handle:
            pickle.dump(artifact, handle, protocol=pickle.HIGHEST_PROTOCOL)
        payload = {
            **meta,
            "version": version,
            "saved_at": datetime.now(UTC).isoformat(),
            "size_bytes": (folder / ARTIFACT).stat().st_size,
        }
        write_private(folder / META, orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        if promote:
            self.promote(version, "saved as champion")
        self.prune()
        return version

    def prune(self) -> list[str]:
        """Delete the versions beyond the newest :attr:`keep` that are neither the champion nor
        an earlier champion; the versions deleted."""
        if self.keep is None:
            return []
        pointer = self._pointer()
        kept = {pointer.get("version"), *pointer.get("previous", [])}
        old = [v for v in self.versions()[: -self.keep] if v not in kept]
        for version in old:
            shutil.rmtree(self.root / version, ignore_errors=True)
        return old

    def update_meta(self, version: str, **fields: Any) -> dict[str, Any]:
        """Add ``fields`` to a saved version's ``meta.json`` (swapped atomically); the new meta."""
        meta = {**self.meta(version), **fields}
        tmp = self.root / version / f".{META}.{os.getpid()}"
        write_private(tmp, orjson.dumps(meta, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.root / version / META)
        return meta

    def _new_folder(self) -> tuple[str, Path]:
        """A new version and its folder; a save in the same millisecond takes the next one."""
        private_dir(self.root)
        while True:
            version = new_version()
            folder = self.root / version
            try:
                private_dir(folder, exist_ok=False)
            except FileExistsError:
                time.sleep(0.001)
                continue
            return version, folder

    def rewrite(self, version: str, artifact: object) -> None:
        """Replace a saved version's artifact in place (erasure removing a person from it); the
        file is swapped atomically, so a reader loads the old or the new artifact, never half."""
        path = self.root / version / ARTIFACT
        if not path.is_file():
            raise FileNotFoundError(f"no artifact for version {version}")
        tmp = path.with_name(f".{ARTIFACT}.{os.getpid()}")
        with open_private(tmp) as handle:
            pickle.dump(artifact, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)

    def artifact_bytes(self, version: str) -> bytes:
        """The saved artifact file as bytes (to search it)."""
        return (self.root / version / ARTIFACT).read_bytes()

    def promote(self, version: str, reason: str) -> None:
        """Make ``version`` the champion, keeping the one it replaces for :meth:`rollback`."""
        if not (self.root / version / ARTIFACT).is_file():
            raise FileNotFoundError(f"no artifact for version {version}")
        pointer = self._pointer()
        previous = [str(v) for v in pointer.get("previous", [])]
        current = pointer.get("version")
        if current is not None and current != version:
            previous = [*previous, str(current)][-MAX_PREVIOUS:]
        self._point(version, previous, reason)

    def rollback(self, reason: str = "rollback") -> str:
        """Restore the champion before the current one at once; the restored version.

        Raises
        ------
        LookupError
            When no earlier champion is recorded (or its artifact is gone).
        """
        previous = [str(v) for v in self._pointer().get("previous", [])]
        while previous:
            version = previous.pop()
            if (self.root / version / ARTIFACT).is_file():
                self._point(version, previous, reason)
                return version
        raise LookupError(f"no earlier {self.root.name} champion to roll back to")

    def _pointer(self) -> dict[str, Any]:
        try:
            data: dict[str, Any] = orjson.loads((self.root / CHAMPION).read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            return {}
        return data

    def _point(self, version: str, previous: list[str], reason: str) -> None:
        pointer = {
            "version": version,
            "previous": previous,
            "promoted_at": datetime.now(UTC).isoformat(),
            "reason": reason,
        }
        tmp = self.root / f".{CHAMPION}.{os.getpid()}"
        write_private(tmp, orjson.dumps(pointer, option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.root / CHAMPION)

    def champion(self) -> str | None:
        version = self._pointer().get("version")
        return None if version is None else str(version)

    def champion_record(self) -> dict[str, Any]:
        """The champion pointer: ``version``, the ``previous`` champions (oldest first), when and
        why it was promoted; empty before any champion."""
        return self._pointer()

    def status(self, version: str) -> str:
        """``champion``, ``challenger`` (the gate refused it), ``previous`` (an earlier
        champion :meth:`rollback` can restore) or ``retired``."""
        pointer = self._pointer()
        if pointer.get("version") == version:
            return "champion"
        if version in pointer.get("previous", []):
            return "previous"
        gate = self.meta(version).get("gate") or {}
        return "challenger" if gate.get("promoted") is False else "retired"

    def load(self, version: str) -> Any:
        with (self.root / version / ARTIFACT).open("rb") as handle:
            # our own artifacts only (see the module docstring)
            return _Unpickler(handle).load()

    def meta(self, version: str) -> dict[str, Any]:
        data: dict[str, Any] = orjson.loads((self.root / version / META).read_bytes())
        return data

    def versions(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / ARTIFACT).is_file())


class Champion(Generic[T]):
    """The registry's champion held in memory, reloaded when a new one is promoted.

    ``get`` never blocks on loading: a background thread checks every ``check_seconds`` and swaps
    the new artifact in once it is loaded. A corrupt artifact is logged and the old one kept.

    Requests share the GIL with the reload, so its cleanup stays off them: after the swap, the
    callbacks given to :meth:`on_swap` drop what they built from the replaced value, and the
    replaced value is let go once no request reads it any more (waiting at most
    :data:`RELEASE_WAIT` seconds), both in the reload thread, so that freeing it falls on no
    request.
    """

    def __init__(
        self,
        registry: ModelRegistry,
        check_seconds: float = 5.0,
        validate: Callable[[Any], T] | None = None,
    ) -> None:
        self._registry = registry
        self._validate = validate
        self._value: T | None = None
        self._version: str | None = None
        self._on_swap: list[Callable[[T], object]] = []
        self._reload = Periodic("champion-reload", check_seconds, self.refresh)
        self.last_error: str | None = None

    @property
    def version(self) -> str | None:
        return self._version

    def get(self) -> T | None:
        return self._value

    def on_swap(self, retire: Callable[[T], object]) -> None:
        """Call ``retire`` with each replaced value, right after the swap, in the thread that
        swapped it (to drop caches built from it there rather than in a request)."""
        self._on_swap.append(retire)

    def refresh(self) -> bool:
        """Load the champion if it changed; ``True`` when a new one was swapped in."""
        version = self._registry.champion()
        if version is None or version == self._version:
            return False
        try:
            loaded = self._registry.load(version)
            value = self._validate(loaded) if self._validate else loaded
        except Exception as exc:  # boundary: a bad artifact must not take serving down
            self.last_error = f"{version}: {exc.__class__.__name__}: {exc}"
            log.exception("could not load model artifact", extra={"version": version})
            self._version = version  # do not retry the same broken file every few seconds
            return False
        replaced = [self._value]
        self._value, self._version, self.last_error = value, version, None
        log.info("model loaded", extra={"version": version})
        self._release(replaced)
        return True

    def _release(self, replaced: list[T | None]) -> None:
        """Retire the replaced value, then drop ``replaced``, its last reference here, once no
        one else holds it (requests that read it before the swap are done with it)."""
        if replaced[0] is None:
            return
        for retire in self._on_swap:
            retire(replaced[0])
        deadline = time.monotonic() + RELEASE_WAIT
        # two references: the list's and getrefcount's argument
        while sys.getrefcount(replaced[0]) > 2 and time.monotonic() < deadline:
            time.sleep(RELEASE_POLL)
        replaced.clear()

    def start(self) -> None:
        self.refresh()
        self._reload.start()

    def stop(self) -> None:
        self._reload.stop()


RELEASE_WAIT: Final = 1.0
"""Seconds a reload waits for requests to be done with the replaced champion before it lets go
of it anyway (then the last of them frees it)."""
RELEASE_POLL: Final = 0.005
