"""The OpenAPI document of the gateway's routes, which ``routes/apidocs.py`` serves with Swagger UI."""

from .document import SPEC_ROUTE, UI_ROUTE, build_document

__all__ = ["SPEC_ROUTE", "UI_ROUTE", "build_document"]
