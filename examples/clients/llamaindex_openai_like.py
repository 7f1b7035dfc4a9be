"""Chat and embed through the gateway with LlamaIndex
(pip install llama-index-llms-openai-like llama-index-embeddings-openai-like).

    LLM_ROUTER_URL=http://127.0.0.1:8080 python examples/clients/llamaindex_openai_like.py

OpenAILike is LlamaIndex's client for OpenAI-compatible servers; its plain OpenAI class would
refuse model names that OpenAI does not have.
"""

import os

from llama_index.core.llms import ChatMessage
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike

API_BASE = os.environ.get("LLM_ROUTER_URL", "http://127.0.0.1:8080") + "/v1"
API_KEY = os.environ.get("LLM_ROUTER_API_KEY", "not-needed-yet")
MODEL = os.environ.get("LLM_ROUTER_MODEL", "speakleash/Bielik-11B-v2.3-Instruct")

# is_chat_model=True: use /v1/chat/completions (otherwise OpenAILike sends prompts to /v1/completions).
# context_window: LlamaIndex does not ask the server, so tell it what the model takes.
llm = OpenAILike(model=MODEL, api_base=API_BASE, api_key=API_KEY, is_chat_model=True,
                 context_window=4096, max_tokens=64, temperature=0)

answer = llm.chat([ChatMessage(role="system", content="Odpowiadaj krótko."),
                   ChatMessage(role="user", content="Jaka jest stolica Polski?")])
print(answer.message.content)

for part in llm.stream_chat([ChatMessage(role="user", content="Policz do pięciu.")]):
    print(part.delta or "", end="", flush=True)
print()

embeddings = OpenAILikeEmbedding(model_name=MODEL, api_base=API_BASE, api_key=API_KEY)
print(len(embeddings.get_text_embedding("Warszawa")), "dimensions")
