"""Placeholders in canonical answers put back to the values they stand for.

Non-streamed answers are unmasked field by field. A stream is unmasked chunk by chunk by
``StreamUnmasking``, one ``StreamUnmasker`` per text channel (a choice's content, reasoning,
each tool call's arguments), so a placeholder cut across chunks comes out whole while all other
text goes out as soon as it arrives.
"""

from __future__ import annotations

from typing import Any

from llm_router_plugins.maskers.session import MaskingSession, StreamUnmasker

TEXT_FIELDS = ("content", "reasoning_content", "reasoning", "text")


def unmask_answer(answer: dict[str, Any], session: MaskingSession) -> dict[str, Any]:
    """``answer`` (a canonical chat or completions answer), unmasked in place and returned."""
    for choice in answer.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        _unmask_fields(choice, session)
        message = choice.get("message")
        if isinstance(message, dict):
            _unmask_fields(message, session)
            for call in message.get("tool_calls") or ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    function["arguments"] = session.unmask(function["arguments"], json_string=True)
    return answer


def _unmask_fields(part: dict, session: MaskingSession) -> None:
    for name in TEXT_FIELDS:
        if isinstance(part.get(name), str):
            part[name] = session.unmask(part[name])


class StreamUnmasking:
    """A stage between a wire decoder and a dialect encoder: canonical chunks in, unmasked out."""

    cut = False  # unmasking never ends an answer early

    def __init__(self, session: MaskingSession):
        self._session = session
        self._channels: dict[tuple, StreamUnmasker] = {}
        self._skeleton: dict[str, Any] = {}

    def __call__(self, chunks: list[dict]) -> list[dict]:
        out: list[dict] = []
        for chunk in chunks:
            self._skeleton = {key: value for key, value in chunk.items() if key not in ("choices", "usage")}
            for choice in chunk.get("choices") or ():
                index = choice.get("index", 0)
                part = self._unmask_choice(index, choice)
                if choice.get("finish_reason") is not None:
                    out.extend(self._flush(index, part))
            out.append(chunk)
        return out

    def close(self) -> list[dict]:
        """Chunks for whatever is still held when the upstream ended without finishing a choice."""
        out: list[dict] = []
        for index in sorted({key[0] for key in self._channels}):
            out.extend(self._flush(index))
        return out

    def _channel(self, key: tuple, json_string: bool = False) -> StreamUnmasker:
        channel = self._channels.get(key)
        if channel is None:
            channel = self._channels[key] = self._session.stream_unmasker(json_string=json_string)
        return channel

    def _unmask_choice(self, index: int, choice: dict) -> dict:
        """The choice's text-bearing part (its delta, or itself for completions), unmasked in place."""
        delta = choice.get("delta")
        part = delta if isinstance(delta, dict) else choice  # completions chunks carry "text" on the choice
        for name in TEXT_FIELDS:
            if isinstance(part.get(name), str):
                part[name] = self._channel((index, name)).feed(part[name])
        for call in part.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                channel = self._channel((index, "tool", call.get("index", 0)), json_string=True)
                function["arguments"] = channel.feed(function["arguments"])
        return part

    def _flush(self, index: int, part: dict | None = None) -> list[dict]:
        """The choice's held-back text, now that it ends.

        Text of a channel that ``part`` (the finishing chunk's delta) also carries is appended
        there, after that chunk's own text; any other goes in a chunk placed before it.
        """
        part = part if part is not None else {}
        calls = {call.get("index", 0): call for call in part.get("tool_calls") or () if isinstance(call, dict)}
        delta: dict[str, Any] = {}
        for key, channel in self._channels.items():
            if key[0] != index or not channel.holding:
                continue
            held = channel.flush()
            if key[1] == "tool":
                function = calls.get(key[2], {}).get("function")
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    function["arguments"] += held
                else:
                    delta.setdefault("tool_calls", []).append({"index": key[2], "function": {"arguments": held}})
            elif isinstance(part.get(key[1]), str):
                part[key[1]] += held
            else:
                delta[key[1]] = held
        if not delta:
            return []
        if "text" in delta:  # a completions chunk
            choice = {"index": index, "text": delta.pop("text"), "finish_reason": None}
        else:
            choice = {"index": index, "delta": delta, "finish_reason": None}
        return [{**self._skeleton, "choices": [choice]}]
