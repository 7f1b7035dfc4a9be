"""models-config.json: typed model, validating loader, hot-reloading store."""

from .loader import ConfigError, Problem, load_models_config, parse_models_config
from .models import ModelConfig, ModelsConfig, ProviderConfig
from .store import ConfigStore

__all__ = ["ConfigError", "ConfigStore", "ModelConfig", "ModelsConfig", "Problem", "ProviderConfig",
           "load_models_config", "parse_models_config"]
