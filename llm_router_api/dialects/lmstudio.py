"""LM Studio's REST API (``/api/v0``): OpenAI's shapes plus model details and generation stats.

Requests are OpenAI's and pass through as they are; model listings and non-streamed answers get
the fields LM Studio clients read (``type``, ``state``, ``max_context_length``; ``stats``,
``model_info``, ``runtime``). What the gateway cannot know (quantization, architecture) is
reported as unknown rather than invented.
"""

from __future__ import annotations

from .base import first_choice, usage_counts


def model_entry(name: str, context_length: int | None) -> dict:
    return {"id": name, "object": "model", "type": "llm", "publisher": "llm-router", "arch": "unknown",
            "compatibility_type": "unknown", "quantization": "unknown", "state": "loaded",
            "max_context_length": context_length or 0}


def add_stats(answer: dict, seconds: float, context_length: int | None) -> dict:
    """``stats`` from the usage and the measured time; the time includes the gateway's own."""
    _, completion_tokens = usage_counts(answer)
    answer["stats"] = {
        "tokens_per_second": round(completion_tokens / seconds, 3) if seconds > 0 else 0.0,
        "generation_time": round(seconds, 3),
        "stop_reason": _STOP_REASONS.get(first_choice(answer).get("finish_reason"), "eosFound"),
    }
    answer["model_info"] = {"arch": "unknown", "quant": "unknown", "format": "unknown",
                            "context_length": context_length or 0}
    answer["runtime"] = {"name": "llm-router", "version": "", "supported_formats": []}
    return answer


_STOP_REASONS = {"stop": "eosFound", "length": "maxPredictedTokensReached", "tool_calls": "toolCalls",
                 "content_filter": "userStopped"}
