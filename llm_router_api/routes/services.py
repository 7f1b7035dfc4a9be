"""Task services from manifests: ``GET /services`` (and ``{PREFIX}/services``) lists them,
``POST {PREFIX}/services/<name>`` runs one (``"async": true`` in the background, as the built-in
tasks).

A ``summary`` service takes its transcript from the manifest's first field (a list of turns:
``{"speaker", "text"}``, ``{"role", "content"}`` or strings) and summarises it progressively with
the chunker, each call within the flavor's context; a ``completion`` service fills its template
with the body's fields and asks once. Either way each model call goes through
``Exchange.complete`` (keys, masking, guardrails, balancing, failover).
"""

from __future__ import annotations

import re
import time
from functools import lru_cache

from flask import Blueprint

from ..errors import InvalidRequest, ServiceNotFound
from ..observability.hooks import current_record
from ..builtin.tasks import missing, text_field, wrong
from ..services.chunker import ChunkerError, Limits, load_token_counter, parse_transcript, summarize
from ..services.manifests import Manifest
from ..services.registry import ServiceRegistry
from ..tasks.runner import TaskRunner
from .exchange import Exchange
from .json_body import json_response, read_json_object
from .task_answers import answer_task, wants_async

_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def fill(template: str, values: dict[str, str]) -> str:
    """``{name}`` slots filled; any other brace (a JSON example in a prompt) left as written."""
    return _SLOT.sub(lambda m: values[m.group(1)] if m.group(1) in values else m.group(0), template)


@lru_cache(maxsize=16)
def _token_counter(tokenizer: str | None):
    return load_token_counter(tokenizer)  # a tokenizer is loaded once per worker, not per request


def create_services_blueprint(exchange: Exchange, registry: ServiceRegistry, runner: TaskRunner, prefix: str,
                              max_body_size: int) -> Blueprint:
    bp = Blueprint("services", __name__)

    def listing():
        services = registry.current()
        return json_response({"services": [m.public() for _, m in sorted(services.by_name.items())],
                              "problems": list(services.problems)})

    for path in dict.fromkeys(["/services", f"{prefix}/services"]):
        bp.add_url_rule(path, "listing" if path == "/services" else "listing_prefixed", listing, methods=["GET"])

    @bp.post(f"{prefix}/services/<name>")
    def run_service(name: str):
        started = time.monotonic()
        manifest = registry.current().by_name.get(name)
        if manifest is None:
            raise ServiceNotFound(f"No service '{name}'; GET /services lists them.", param="name")
        body, _ = read_json_object(max_body_size)
        flavor = manifest.flavor(body.get("flavor"))
        if flavor is None:
            raise InvalidRequest(f"Unknown flavor {body.get('flavor')!r}; the service has: "
                                 f"{', '.join(f.name for f in manifest.flavors)}.", param="flavor")
        asynchronous = wants_async(body)
        record = None if asynchronous else current_record()
        options = {"model": flavor.model, "max_tokens": flavor.max_generation, "stream": False}
        options.update({k: v for k, v in (("temperature", flavor.temperature), ("top_p", flavor.top_p))
                        if v is not None})

        def complete(prompt: str) -> str:
            return exchange.complete_text({**options, "messages": [{"role": "user", "content": prompt}]}, record,
                                          client_body=body)

        try:
            template = manifest.template()
        except OSError:  # removed since the directory was last read
            raise ServiceNotFound(f"The service '{name}' has no prompt template any more.", param="name") from None
        if manifest.type == "summary":
            turns, values = _summary_inputs(manifest, body)
            limits = Limits.from_flavor(flavor.raw)
            count, counter = _token_counter(flavor.tokenizer)

            def render(summaries: list[str], new_turns: list[str]) -> str:
                return fill(template, {**values, "summaries": "\n\n".join(summaries), "turns": "\n".join(new_turns)})

            def run() -> dict:
                try:
                    result = summarize(turns, limits, count, render, complete)
                except ChunkerError as exc:  # a transcript or a flavor the chunker cannot work with
                    raise InvalidRequest(f"The service '{manifest.name}' cannot summarise this: {exc}",
                                         code="cannot_summarize") from None
                return {"response": result.final, "summaries": result.summaries, "calls": result.calls,
                        "degraded": result.degraded, "token_counter": counter,
                        "generation_time": round(time.monotonic() - started, 3)}
        else:
            prompt = fill(template, _text_fields(manifest.fields, body))

            def run() -> dict:
                return {"response": complete(prompt), "generation_time": round(time.monotonic() - started, 3)}

        return answer_task(runner, manifest.name, asynchronous, run)

    return bp


def _text_fields(names, body: dict) -> dict[str, str]:
    return {name: text_field(body, name, allow_empty=True) for name in names}


def _summary_inputs(manifest: Manifest, body: dict) -> tuple[list, dict[str, str]]:
    """The transcript (checked turn by turn with the chunker's own reading) and the other fields."""
    transcript_field, *others = manifest.fields
    turns = body.get(transcript_field)
    if turns is None:
        raise missing(transcript_field, "a list of turns")
    if not isinstance(turns, list) or not turns:
        raise wrong(transcript_field, 'a non-empty list of turns: {"speaker", "text"}, {"role", "content"} or '
                                      "strings")
    try:
        parse_transcript(turns)
    except ChunkerError as exc:
        raise wrong(transcript_field, f'a list of turns ({exc})') from None
    return turns, _text_fields(others, body)
