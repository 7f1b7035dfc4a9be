"""llm-router: a self-hosted, OpenAI-compatible gateway in front of many model servers."""

__version__ = "0.1.0"
