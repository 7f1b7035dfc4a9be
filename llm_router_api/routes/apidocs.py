"""Swagger UI at /apidocs (flasgger), over the OpenAPI document of every route.

The document is built once, at start-up, by ``llm_router_api.apidocs.build_document`` and given
to flasgger as its template; flasgger reads no docstrings of our views (its rule filter takes
none) and adds no hook to other requests. Its routes, all GET:

- ``/apidocs/``: the Swagger UI page (``/apidocs`` redirects to it);
- ``/apispec.json``: the document;
- ``/apidocs/static/...``, ``/apidocs/oauth2-redirect.html``, ``/apidocs/index.html``: the UI's
  assets, its OAuth redirect page and an old alias of the page (not in the document).
"""

from __future__ import annotations

from flasgger import Swagger
from flask import Flask

from ..apidocs import SPEC_ROUTE, UI_ROUTE, build_document

STATIC_URL_PATH = "/apidocs/static"
OAUTH_REDIRECT = "/apidocs/oauth2-redirect.html"


class _Swagger(Swagger):
    def add_headers(self, app: Flask) -> None:
        """flasgger's after_request hook only sets configured headers; there are none, so no hook."""


def swagger_config(title: str) -> dict:
    return {
        "title": title,
        "openapi": "3.0.3",
        "headers": [],
        "specs": [{"endpoint": "apispec", "route": SPEC_ROUTE,
                   "rule_filter": lambda rule: False,  # the template is the whole document
                   "model_filter": lambda tag: False}],
        "static_url_path": STATIC_URL_PATH,
        "specs_route": UI_ROUTE,
        "oauth_redirect": OAUTH_REDIRECT,
        "swagger_ui": True,
        "uiversion": 3,
        "auth": {},  # rendered into the page's script as initOAuth's argument
        "ui_params": {"docExpansion": "list", "defaultModelsExpandDepth": 0, "displayRequestDuration": True},
    }


def register_apidocs(app: Flask, prefix: str) -> None:
    """Serve the OpenAPI document of the app's routes at /apispec.json and Swagger UI at /apidocs/."""
    document = build_document(prefix)
    _Swagger(app, config=swagger_config(document["info"]["title"]), template=document)
