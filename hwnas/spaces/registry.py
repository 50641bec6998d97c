"""The search-space registry: ``@register_space`` and ``create_space(name, **kwargs)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from hwnas.registry import Registry

if TYPE_CHECKING:
    from hwnas.spaces.base import SearchSpace

SPACES: Registry[SearchSpace] = Registry("space")


def register_space(name: str) -> Callable[[Callable[..., Any]], Any]:
    """Class decorator registering a :class:`SearchSpace` under ``name``."""
    return SPACES.register(name)


def create_space(name: str, **kwargs: Any) -> SearchSpace:
    """The search space registered as ``name``, built with ``kwargs``."""
    return SPACES.create(name, **kwargs)


def list_spaces() -> list[str]:
    """The names of the registered search spaces."""
    return SPACES.names()
