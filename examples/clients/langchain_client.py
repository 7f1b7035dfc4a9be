"""Chat and embed through the gateway with LangChain (pip install langchain-openai).

    LLM_ROUTER_URL=http://127.0.0.1:8080 python examples/clients/langchain_client.py

LangChain's OpenAI classes only need the gateway's /v1 as their base_url.
"""

import os

from langchain_openai import ChatOpenAI, OpenAIEmbeddings

BASE_URL = os.environ.get("LLM_ROUTER_URL", "http://127.0.0.1:8080") + "/v1"
API_KEY = os.environ.get("LLM_ROUTER_API_KEY", "not-needed-yet")
MODEL = os.environ.get("LLM_ROUTER_MODEL", "speakleash/Bielik-11B-v2.3-Instruct")

llm = ChatOpenAI(base_url=BASE_URL, api_key=API_KEY, model=MODEL, temperature=0, max_tokens=64)

answer = llm.invoke([("system", "Odpowiadaj krótko."), ("human", "Jaka jest stolica Polski?")])
print(answer.content)

for chunk in llm.stream("Policz do pięciu."):
    print(chunk.content, end="", flush=True)
print()

# check_embedding_ctx_length=False: send the texts as they are. By default LangChain tokenizes them
# with tiktoken (OpenAI's tokenizer, downloaded on first use) and sends token ids, which many
# OpenAI-compatible servers do not accept.
embeddings = OpenAIEmbeddings(base_url=BASE_URL, api_key=API_KEY, model=MODEL, check_embedding_ctx_length=False)
print(len(embeddings.embed_query("Warszawa")), "dimensions")
