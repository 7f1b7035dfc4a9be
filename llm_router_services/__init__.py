"""The guard microservice (Bielik-Guard "Sojka", NASK guard): a separate Flask app under gunicorn.

``create_app`` (app.py) builds it; ``run-sojka-guardrail.sh`` or ``python -m llm_router_services``
serves it. Importing the package is cheap: torch and transformers are imported only by
classifier.py, when a model is loaded. See README.md in this folder.
"""
