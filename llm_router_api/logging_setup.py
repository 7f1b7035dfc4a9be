"""Logging for the gateway's own loggers, from settings; safe to call once per app built."""

from __future__ import annotations

import logging
import sys

_HANDLER_NAME = "llm_router"
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


def configure_logging(level: str, filename: str | None) -> None:
    logger = logging.getLogger("llm_router_api")
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if h.get_name() == _HANDLER_NAME]:
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(filename) if filename else logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT))
    logger.addHandler(handler)
    logger.propagate = False
