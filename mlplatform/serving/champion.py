"""The model a prediction service answers with, following the registry's `champion` alias.

A background thread checks the alias every `refresh_seconds`. A new version is loaded beside
the serving one and swapped in by one reference assignment, so a request, which reads the
reference once, is answered by exactly one version. A version that cannot be loaded (refused,
unreachable) leaves the serving one in place and is reported by `status()`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from mlplatform.core.training import Tagger
from mlplatform.resources.model_registry import (
    CHAMPION,
    MlflowModelRegistry,
    ModelRefusedError,
    RegistryUnavailableError,
)


@dataclass(frozen=True)
class ServedModel:
    version: str
    tagger: Tagger
    loaded_at: float


@dataclass(frozen=True)
class FollowerStatus:
    """What `/health` reports: the serving version (None: nothing to serve) and the last problem."""

    serving: ServedModel | None
    champion: str | None
    problem: str | None
    checked_at: float | None


class ChampionFollower:
    """Loads the champion and keeps following the alias until `stop()`."""

    def __init__(self, registry: MlflowModelRegistry, refresh_seconds: float) -> None:
        self._registry = registry
        self._refresh_seconds = refresh_seconds
        self._serving: ServedModel | None = None
        self._champion: str | None = None
        self._problem: str | None = "not checked yet"
        self._checked_at: float | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._follow, name="champion-follower", daemon=True)

    @property
    def serving(self) -> ServedModel | None:
        """The model to answer with; read once per request."""
        return self._serving

    def status(self) -> FollowerStatus:
        return FollowerStatus(self._serving, self._champion, self._problem, self._checked_at)

    def start(self) -> None:
        self.refresh()
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def refresh(self) -> None:
        """Check the alias once; load and swap in a version that is not the serving one."""
        name = self._registry.registered_model_name
        try:
            version = self._registry.alias_version(CHAMPION)
        except RegistryUnavailableError as error:
            self._checked(None if self._serving is None else self._champion, str(error))
            return
        if version is None:
            self._checked(None, f"{name} has no champion yet: materialize champion_model first")
            return
        if self._serving is not None and self._serving.version == version:
            self._checked(version, None)
            return
        try:
            loaded = self._registry.load(version)
        except (ModelRefusedError, RegistryUnavailableError) as error:
            self._checked(version, f"{name} v{version} could not be loaded: {error}")
            return
        self._serving = ServedModel(version, loaded.tagger, time.time())
        self._checked(version, None)

    def _checked(self, champion: str | None, problem: str | None) -> None:
        self._champion, self._problem, self._checked_at = champion, problem, time.time()

    def _follow(self) -> None:
        while not self._stopped.wait(self._refresh_seconds):
            try:
                self.refresh()
            except Exception as error:  # the service keeps serving; /health shows it
                self._checked(self._champion, f"checking the champion failed: {error!r}")
