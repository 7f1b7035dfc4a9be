"""Server-sent events and NDJSON from a byte stream that arrives in arbitrary pieces."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    event: str  # the ``event:`` field, "" when absent (OpenAI sends data lines only)
    data: str  # the ``data:`` lines joined by newlines


class EventParser:
    """Feed bytes, get the complete events so far; a partial event waits for its blank line."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[Event]:
        self._pending += data.replace(b"\r\n", b"\n")
        events = []
        while True:
            cut = self._pending.find(b"\n\n")
            if cut < 0:
                return events
            block, self._pending = self._pending[:cut], self._pending[cut + 2:]
            event = _parse_block(block.decode("utf-8", errors="replace"))
            if event is not None:
                events.append(event)

    def close(self) -> list[Event]:
        """The last event when the stream ended without its blank line."""
        block, self._pending = self._pending, b""
        event = _parse_block(block.decode("utf-8", errors="replace")) if block.strip() else None
        return [event] if event is not None else []


def _parse_block(block: str) -> Event | None:
    name, data = "", []
    for line in block.split("\n"):
        if not line or line.startswith(":"):
            continue
        key, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if key == "event":
            name = value
        elif key == "data":
            data.append(value)
    if not name and not data:
        return None
    return Event(name, "\n".join(data))


class LineParser:
    """Feed bytes, get the complete non-empty lines so far (NDJSON, Ollama's stream framing)."""

    def __init__(self) -> None:
        self._pending = b""

    def feed(self, data: bytes) -> list[str]:
        self._pending += data
        *lines, self._pending = self._pending.split(b"\n")
        return [line.decode("utf-8", errors="replace") for line in lines if line.strip()]

    def close(self) -> list[str]:
        rest, self._pending = self._pending, b""
        return [rest.decode("utf-8", errors="replace")] if rest.strip() else []


def sse_frame(data: str, event: str | None = None) -> bytes:
    """One SSE event: ``event: NAME`` (when given) and one ``data:`` line."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {data}\n\n".encode("utf-8")
