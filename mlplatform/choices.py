"""A setting that picks one implementation from a registry (warehouse, ingestion, executor).

The registry's keys are the allowed values, its first key the default, and the error message is
derived from them: a new backend is registered in one place and nothing else needs to know.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from dagster import Definitions

    from mlplatform.settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class Registry(Generic[T]):
    """The implementations the environment variable `variable` chooses from, by name."""

    variable: str
    entries: Mapping[str, T]

    @property
    def default(self) -> str:
        return next(iter(self.entries))

    def parse(self, environ: Mapping[str, str]) -> str:
        """The name `variable` sets in `environ` (the default when unset), checked."""
        name = environ.get(self.variable) or self.default
        self.check(name)
        return name

    def check(self, name: str) -> None:
        if name not in self.entries:
            raise ValueError(f"{self.variable}={name!r}: expected one of {tuple(self.entries)}")

    def __getitem__(self, name: str) -> T:
        self.check(name)
        return self.entries[name]


@dataclass(frozen=True)
class Backend:
    """What an optional backend brings (ingestion, feature store): its definitions (assets,
    checks, sensors) and the resources they need, both built from the settings."""

    definitions: Callable[[Settings], Definitions]
    resources: Callable[[Settings], dict[str, Any]] = field(default=lambda settings: {})
