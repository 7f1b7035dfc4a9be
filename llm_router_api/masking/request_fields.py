"""What a person wrote in a canonical request, masked; everything else left exactly as it was.

Masked: message contents of every role (text parts too; history holds values the model was
shown before), tool results, the arguments of earlier tool calls (string values only, so the
JSON stays valid), ``prompt`` and ``input``. Never masked: ``model``, tool schemas, sampling
parameters, token-id prompts, image parts. The request is copied where it changes, so the
client's own body (which encoders may echo) is never altered.
"""

from __future__ import annotations

import json
from typing import Any, Callable

Mask = Callable[[str], str]


def mask_payload(endpoint: str, payload: dict[str, Any], mask: Mask) -> dict[str, Any]:
    masked = dict(payload)
    if endpoint == "chat":
        messages = payload.get("messages")
        if isinstance(messages, list):
            masked["messages"] = [_message(message, mask) for message in messages]
    elif endpoint == "completions":
        masked["prompt"] = _texts(payload.get("prompt"), mask)
    elif endpoint == "embeddings":
        masked["input"] = _texts(payload.get("input"), mask)
    return masked


def _message(message: Any, mask: Mask) -> Any:
    if not isinstance(message, dict):
        return message
    masked = dict(message)
    content = message.get("content")
    if isinstance(content, str):
        masked["content"] = mask(content)
    elif isinstance(content, list):
        masked["content"] = [_part(part, mask) for part in content]
    tool_calls = message.get("tool_calls")
    if isinstance(tool_calls, list):
        masked["tool_calls"] = [_tool_call(call, mask) for call in tool_calls]
    return masked


def _part(part: Any, mask: Mask) -> Any:
    if isinstance(part, dict) and isinstance(part.get("text"), str):
        return {**part, "text": mask(part["text"])}
    return part


def _tool_call(call: Any, mask: Mask) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    return {**call, "function": {**function, "arguments": mask_arguments(function["arguments"], mask)}}


def mask_arguments(arguments: str, mask: Mask) -> str:
    """Tool-call arguments: the string values inside the JSON masked; not JSON, masked as text."""
    try:
        decoded = json.loads(arguments)
    except ValueError:
        return mask(arguments)
    return json.dumps(_json_strings(decoded, mask), ensure_ascii=False)


def _json_strings(value: Any, mask: Mask) -> Any:
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [_json_strings(item, mask) for item in value]
    if isinstance(value, dict):
        return {key: _json_strings(item, mask) for key, item in value.items()}
    return value


def _texts(value: Any, mask: Mask) -> Any:
    """``prompt``/``input``: a string or a list of strings is masked; token ids pass untouched."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list):
        return [mask(item) if isinstance(item, str) else item for item in value]
    return value
