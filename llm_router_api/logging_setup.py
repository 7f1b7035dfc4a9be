"""Logging for the gateway's own loggers, from settings; safe to call once per app built.

``text``: one human line per event, the access line's fields as ``key=value``. ``json``: one
JSON object per line (time, level, logger, pid, message, and the access line's fields), for log
shippers. No formatter adds anything a call did not pass: message contents and secrets are never
handed to a logger in the first place.
"""

from __future__ import annotations

import json
import logging
import sys
import time

HANDLER_NAME = "llm_router"
FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "request", None)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items() if value is not None)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                 + f".{int(record.msecs):03d}Z", "level": record.levelname, "logger": record.name,
                 "pid": record.process, "message": record.getMessage()}
        fields = getattr(record, "request", None)
        if fields:
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, filename: str | None, log_format: str = "text") -> None:
    logger = logging.getLogger("llm_router_api")
    logger.setLevel(level)
    for handler in [h for h in logger.handlers if h.get_name() == HANDLER_NAME]:
        logger.removeHandler(handler)
        handler.close()
    handler = logging.FileHandler(filename) if filename else logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.propagate = False
