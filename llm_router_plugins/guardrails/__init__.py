"""Guardrail clients: classifiers behind HTTP (the guard service) that say whether texts are safe.

The gateway hands a pipeline the texts people wrote (already masked); the pipeline answers with
what, if anything, a guard flagged. Clients know the guard service's API and nothing about the
gateway: the HTTP transport is passed in.
"""

from .base import Flag, GuardUnavailable, Verdict
from .pipeline import GuardrailPipeline

__all__ = ["Flag", "GuardUnavailable", "GuardrailPipeline", "Verdict"]
