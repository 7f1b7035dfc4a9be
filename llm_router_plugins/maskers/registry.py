"""Maskers by name, as ``LLM_ROUTER_MASKING_STRATEGY_PIPELINE`` names them.

Names are listed without importing the maskers, so settings can check a variable cheaply;
a masker is built only when a pipeline is.
"""

from __future__ import annotations

from typing import Callable, Iterable

from .base import Masker
from .pipeline import MaskingPipeline


def _fast_masker() -> Masker:
    from .fast_masker import FastMasker

    return FastMasker()


_FACTORIES: dict[str, Callable[[], Masker]] = {"fast_masker": _fast_masker}
MASKER_NAMES: tuple[str, ...] = tuple(_FACTORIES)


def build_masker(name: str) -> Masker:
    try:
        factory = _FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown masker {name!r}; known: {', '.join(MASKER_NAMES)}") from None
    return factory()


def build_pipeline(names: Iterable[str]) -> MaskingPipeline:
    return MaskingPipeline([build_masker(name) for name in names])
