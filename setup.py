from setuptools import find_packages, setup

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
    ],
    extras_require={
        "services": ["transformers>=4.40", "torch>=2.2"],
        # The official clients: the dialect tests speak to the gateway through them, as users do.
        # openapi-spec-validator and schemathesis check /apidocs' document and every route against it.
        "dev": ["pytest>=8", "openai>=1.40", "anthropic>=0.40", "ollama>=0.4", "requests>=2.31", "redis>=5",
                "cryptography>=42", "openapi-spec-validator>=0.7", "openapi-schema-validator>=0.6", "jsonschema>=4",
                "schemathesis>=4.32,<5", "hypothesis>=6.100",
                # tokenizers: a tokenizer trained in a test shows placeholders survive tokenization.
                "tokenizers>=0.15",
                # transformers + torch: the guard service's tests load a tiny classifier through the real
                # loading code (run-tests.sh installs torch's CPU build first where torch is missing).
                "transformers>=4.40", "torch>=2.2"],
        "all": ["transformers>=4.40", "torch>=2.2", "pytest>=8", "openai>=1.40", "anthropic>=0.40", "ollama>=0.4",
                "requests>=2.31", "redis>=5", "cryptography>=42", "openapi-spec-validator>=0.7",
                "openapi-schema-validator>=0.6", "jsonschema>=4", "schemathesis>=4.32,<5", "hypothesis>=6.100", "tokenizers>=0.15"],
    },
    entry_points={"console_scripts": ["llm-router=llm_router_api.cli:main"]},
)
