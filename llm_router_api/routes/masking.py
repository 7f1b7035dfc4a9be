"""``POST {PREFIX}/fast_text_mask``: llm-router's text masking route, served by the masking pipeline.

Answers ``{"text": <masked>, "entities": [{"placeholder", "entity"}]}``: the masked text as
llm-router returns it, plus which placeholders stand for what kind of value. The originals are
never in the answer or a log line; nothing is sent upstream, so nothing is audited.
"""

from __future__ import annotations

from flask import Blueprint

from ..errors import InvalidRequest
from ..masking import Masking
from .json_body import json_response, read_json_object


def create_masking_blueprint(masking: Masking, prefix: str, max_body_size: int) -> Blueprint:
    bp = Blueprint("builtin_masking", __name__)

    @bp.post(f"{prefix}/fast_text_mask")
    def fast_text_mask():
        payload, _ = read_json_object(max_body_size)
        text = payload.get("text")
        if not isinstance(text, str):
            raise InvalidRequest("Missing required parameter: 'text' (a string).", param="text",
                                 code="missing_required_parameter" if text is None else "invalid_type")
        masked, session = masking.mask_text(text)
        entities = [{"placeholder": placeholder, "entity": placeholder[1:].rsplit("_", 1)[0]}
                    for placeholder in session.originals]
        return json_response({"text": masked, "entities": entities})

    return bp
