"""Where a provider lives, parsed once from its ``api_host``.

Kept apart from the HTTP client so the config loader can validate addresses with the same
parser without importing sockets or ssl into the gunicorn master (gevent patches them later,
in each worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Origin:
    """Where a provider lives: parsed once per ``api_host``, never shown to clients."""

    scheme: str
    host: str
    port: int
    host_header: str
    base_path: str

    @staticmethod
    @lru_cache(maxsize=1024)
    def of(url: str) -> "Origin":
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        default_port = 443 if parts.scheme == "https" else 80
        port = parts.port or default_port
        host_header = parts.hostname if port == default_port else f"{parts.hostname}:{port}"
        if ":" in parts.hostname:  # IPv6 literal
            host_header = f"[{parts.hostname}]" if port == default_port else f"[{parts.hostname}]:{port}"
        return Origin(parts.scheme, parts.hostname, port, host_header, parts.path.rstrip("/"))
