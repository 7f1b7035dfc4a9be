"""Chat through the gateway with the official openai SDK (pip install openai).

    LLM_ROUTER_URL=http://127.0.0.1:8080 python examples/clients/openai_sdk.py
"""

import os

from openai import OpenAI

client = OpenAI(base_url=os.environ.get("LLM_ROUTER_URL", "http://127.0.0.1:8080") + "/v1",
                api_key=os.environ.get("LLM_ROUTER_API_KEY", "not-needed-yet"))
MODEL = os.environ.get("LLM_ROUTER_MODEL", "speakleash/Bielik-11B-v2.3-Instruct")

print([m.id for m in client.models.list()])

answer = client.chat.completions.create(
    model=MODEL, temperature=0, max_tokens=64,
    messages=[{"role": "system", "content": "Odpowiadaj krótko."},
              {"role": "user", "content": "Jaka jest stolica Polski?"}])
print(answer.choices[0].message.content)

for chunk in client.chat.completions.create(model=MODEL, stream=True, max_tokens=64,
                                            messages=[{"role": "user", "content": "Policz do pięciu."}]):
    if chunk.choices and chunk.choices[0].delta.content:
        print(chunk.choices[0].delta.content, end="", flush=True)
print()
