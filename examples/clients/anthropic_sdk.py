"""Chat through the gateway with the official anthropic SDK (pip install anthropic), as Claude Code does.

    LLM_ROUTER_URL=http://127.0.0.1:8080 python examples/clients/anthropic_sdk.py

For Claude Code itself: ANTHROPIC_BASE_URL=http://127.0.0.1:8080 and a model name the gateway serves.
"""

import os

from anthropic import Anthropic

client = Anthropic(base_url=os.environ.get("LLM_ROUTER_URL", "http://127.0.0.1:8080"),
                   api_key=os.environ.get("LLM_ROUTER_API_KEY", "not-needed-yet"))
MODEL = os.environ.get("LLM_ROUTER_MODEL", "speakleash/Bielik-11B-v2.3-Instruct")

message = client.messages.create(model=MODEL, max_tokens=64, system="Odpowiadaj krótko.",
                                 messages=[{"role": "user", "content": "Jaka jest stolica Polski?"}])
print(message.content[0].text, f"({message.usage.output_tokens} tokens, {message.stop_reason})")

with client.messages.stream(model=MODEL, max_tokens=64,
                            messages=[{"role": "user", "content": "Policz do pięciu."}]) as stream:
    for text in stream.text_stream:
        print(text, end="", flush=True)
print()
