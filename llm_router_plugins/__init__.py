"""Plugins hooked into the gateway's request pipeline, each registered by name.

``maskers`` (``fast_masker``), ``guardrails`` (``sojka_guard``, ``nask_guard``: clients of the
guard service) and ``utils`` (what the gateway and the guard service share).
"""
