"""Versioned model artifacts, the champion pointer, and hot reload for serving.

Each training run saves an artifact under ``<models_dir>/<family>/<version>/`` (the pickled
artifact plus ``meta.json``) and may promote it to champion by rewriting ``champion.json``
atomically. Serving holds the champion in memory and swaps in a newly promoted one from a
background check, without a restart. Artifacts are written by shopwise's own training jobs and
are trusted input; do not load artifacts from elsewhere. Artifacts saved before the model
packages moved (``shopwise.models.*``) still load: their classes are looked up where they live
now (:data:`MOVED`).
"""

from __future__ import annotations

import logging
import os
import pickle
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

    def __init__(self, models_dir: Path, family: str) -> None:
        self.root = models_dir / family

    def save(self, artifact: object, meta: dict[str, Any], promote: bool = True) -> str:
        version, folder = self._new_folder()
        with open_private(folder / ARTIFACT) as handle:
            pickle.dump(artifact, handle, protocol=pickle.HIGHEST_PROTOCOL)
        payload = {**meta, "version": version, "saved_at": datetime.now(UTC).isoformat()}
        write_private(folder / META, orjson.dumps(payload, option=orjson.OPT_INDENT_2))
        if promote:
            self.promote(version)
        return version

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

    def promote(self, version: str) -> None:
        if not (self.root / version / ARTIFACT).is_file():
            raise FileNotFoundError(f"no artifact for version {version}")
        tmp = self.root / f".{CHAMPION}.{os.getpid()}"
        write_private(tmp, orjson.dumps({"version": version}))
        os.replace(tmp, self.root / CHAMPION)

    def champion(self) -> str | None:
        try:
            return str(orjson.loads((self.root / CHAMPION).read_bytes())["version"])
        except (FileNotFoundError, orjson.JSONDecodeError, KeyError):
            return None

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
        self._reload = Periodic("champion-reload", check_seconds, self.refresh)
        self.last_error: str | None = None

    @property
    def version(self) -> str | None:
        return self._version

    def get(self) -> T | None:
        return self._value

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
        self._value, self._version, self.last_error = value, version, None
        log.info("model loaded", extra={"version": version})
        return True

    def start(self) -> None:
        self.refresh()
        self._reload.start()

    def stop(self) -> None:
        self._reload.stop()
