"""The guard microservice (Bielik-Guard "Sojka", NASK guard), a separate Flask app.

Empty in this version; it gets its own app factory and ``run-sojka-guardrail.sh``.
"""
