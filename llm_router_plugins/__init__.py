"""Plugins hooked into the gateway's request pipeline: maskers, guardrail clients, utilities.

Empty in this version; maskers (``fast_masker``) and guardrail clients (``sojka_guard``,
``nask_guard``) arrive here, each registered by name.
"""
