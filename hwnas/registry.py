"""A small name -> factory registry shared by spaces, runtimes, strategies and evaluators."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from hwnas.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to factories; unknown names raise an error that lists the known ones.

    Args:
        kind: What is registered (``"space"``, ``"runtime"``...), used in error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}

    def register(self, name: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator registering ``factory`` under ``name``."""

        def decorator(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            return factory

        return decorator

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._factories)

    def get(self, name: str) -> Callable[..., T]:
        """The factory registered under ``name``."""
        try:
            return self._factories[name]
        except KeyError:
            raise ConfigError(self.kind, f"one of {', '.join(self.names())}", name) from None

    def create(self, name: str, **kwargs: object) -> T:
        """Build the object registered under ``name`` with keyword arguments."""
        return self.get(name)(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._factories
