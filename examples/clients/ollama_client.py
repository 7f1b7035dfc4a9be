"""Chat through the gateway with the official ollama client (pip install ollama), as Ollama apps do.

    LLM_ROUTER_URL=http://127.0.0.1:8080 python examples/clients/ollama_client.py

The gateway answers Ollama's routes whatever the model's backend is (vLLM, llama.cpp, Ollama...).
"""

import os

from ollama import Client

client = Client(host=os.environ.get("LLM_ROUTER_URL", "http://127.0.0.1:8080"))
MODEL = os.environ.get("LLM_ROUTER_MODEL", "speakleash/Bielik-11B-v2.3-Instruct")

print([m.model for m in client.list().models])

answer = client.chat(model=MODEL, stream=False, options={"temperature": 0, "num_predict": 64},
                     messages=[{"role": "system", "content": "Odpowiadaj krótko."},
                               {"role": "user", "content": "Jaka jest stolica Polski?"}])
print(answer.message.content)

for part in client.chat(model=MODEL, stream=True, options={"num_predict": 64},
                        messages=[{"role": "user", "content": "Policz do pięciu."}]):
    print(part.message.content, end="", flush=True)
print()

print(len(client.embed(model=MODEL, input="Warszawa").embeddings[0]), "dimensions")
