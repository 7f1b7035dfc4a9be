"""Masking in the request path: which fields are masked, answers unmasked, when it applies.

The maskers themselves (what counts as personal data) are plugins (``llm_router_plugins.maskers``);
this package decides where in a request they look and puts originals back into answers.
"""

from .policy import Masking, RequestMasking

__all__ = ["Masking", "RequestMasking"]
