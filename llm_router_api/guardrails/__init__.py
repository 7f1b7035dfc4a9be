"""Guardrails in the request path: requests judged before they leave, answers before they arrive."""

from .policy import Guarding

__all__ = ["Guarding"]
