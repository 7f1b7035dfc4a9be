"""The LiteLLM importer's mapping rules (llm_router_api/config/litellm_import.py) and its CLI's exit statuses."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from llm_router_api.cli import main
from llm_router_api.config.litellm_import import (
    DEFAULT_GROUP,
    PROVIDER_TYPES,
    STRATEGY_SUGGESTIONS,
    LiteLLMConfigError,
    import_litellm,
    to_json,
    validate,
)
from llm_router_api.settings import STRATEGIES

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = REPO_ROOT / "examples/litellm-migration"
SECRET = "sk-litellm-unit-secret-0123456789"


def deployment(name: str, model: str, api_base: str | None = "http://10.0.0.1:8000/v1", info: dict | None = None,
               **params) -> dict:
    litellm_params = {"model": model, **({"api_base": api_base} if api_base is not None else {}), **params}
    entry = {"model_name": name, "litellm_params": litellm_params}
    if info is not None:
        entry["model_info"] = info
    return entry


def imported(*entries: dict, environ=None, **sections) -> tuple[dict, list[str]]:
    config, notices = import_litellm({"model_list": list(entries), **sections}, environ=environ)
    assert validate(config) == [], "every import must pass our own loader"
    return config[DEFAULT_GROUP], [str(n) for n in notices]


def providers(models: dict, name: str) -> list[dict]:
    return models[name]["providers"]


# -- models and providers -----------------------------------------------------------------------

@pytest.mark.parametrize("prefix, api_type", sorted(PROVIDER_TYPES.items()))
def test_each_prefix_gives_its_api_type_and_the_rest_is_the_model_path(prefix, api_type):
    models, _ = imported(deployment("gpt-3.5-turbo", f"{prefix}/speakleash/Bielik-11B-v2.3-Instruct"))
    (provider,) = providers(models, "gpt-3.5-turbo")
    assert provider["api_type"] == api_type
    assert provider["model_path"] == "speakleash/Bielik-11B-v2.3-Instruct"


def test_one_model_per_model_name_with_its_deployments_in_file_order():
    models, _ = imported(deployment("gpt-3.5-turbo", "hosted_vllm/bielik", "http://10.0.0.1:7000/v1"),
                         deployment("emb", "hosted_vllm/bge-m3", "http://10.0.0.3:8000/v1"),
                         deployment("gpt-3.5-turbo", "openai/bielik", "http://10.0.0.2:7000/v1"))
    assert list(models) == ["gpt-3.5-turbo", "emb"]
    assert [p["id"] for p in providers(models, "gpt-3.5-turbo")] == ["10.0.0.1:7000", "10.0.0.2:7000"]
    assert models["gpt-3.5-turbo"]["providers_sleep"] == []


def test_active_models_lists_every_model_of_the_group():
    config, _ = import_litellm({"model_list": [deployment("a", "openai/x"), deployment("b", "openai/y")]},
                               group="from_litellm")
    assert config["active_models"] == {"from_litellm": ["a", "b"]}
    assert list(config["from_litellm"]) == ["a", "b"]


@pytest.mark.parametrize("api_base, api_type, root", [
    ("http://10.0.0.1:8000/v1", "hosted_vllm", "http://10.0.0.1:8000/"),
    ("http://10.0.0.1:8000/v1/", "hosted_vllm", "http://10.0.0.1:8000/"),
    ("http://10.0.0.1:8000", "hosted_vllm", "http://10.0.0.1:8000/"),
    ("https://gw.example.org/llm/v1", "openai", "https://gw.example.org/llm/"),
    ("http://10.0.0.1:11434/v1", "ollama", "http://10.0.0.1:11434/"),
    ("https://api.anthropic.com/v1/messages", "anthropic", "https://api.anthropic.com/"),
    ("https://api.anthropic.com", "anthropic", "https://api.anthropic.com/"),
])
def test_api_host_is_the_server_root_without_v1(api_base, api_type, root):
    models, _ = imported(deployment("m", f"{api_type}/x", api_base))
    assert providers(models, "m")[0]["api_host"] == root


def test_ollama_without_api_base_means_litellms_default_and_says_so():
    models, notes = imported(deployment("llama3", "ollama/llama3", None))
    assert providers(models, "llama3")[0]["api_host"] == "http://localhost:11434/"
    assert any("model_list[0] ('llama3')" in n and "localhost:11434" in n for n in notes)


def test_weight_max_parallel_requests_and_max_input_tokens_are_carried():
    models, _ = imported(deployment("m", "hosted_vllm/x", weight=3, max_parallel_requests=64,
                                    info={"max_input_tokens": 32768, "max_tokens": 4096, "mode": "chat"}))
    (provider,) = providers(models, "m")
    assert (provider["weight"], provider["max_concurrency"], provider["input_size"]) == (3.0, 64, 32768)


def test_defaults_weight_1_unlimited_and_no_context_length():
    models, _ = imported(deployment("m", "hosted_vllm/x", info={"max_tokens": 4096}))
    (provider,) = providers(models, "m")
    assert provider["weight"] == 1.0
    assert "max_concurrency" not in provider and "input_size" not in provider


@pytest.mark.parametrize("params, info, key, field", [
    ({"weight": -1}, None, "weight", "weight"),
    ({"weight": "3"}, None, "weight", "weight"),
    ({"weight": float("inf")}, None, "weight", "weight"),
    ({"max_parallel_requests": 0}, None, "max_parallel_requests", "max_concurrency"),
    ({"max_parallel_requests": True}, None, "max_parallel_requests", "max_concurrency"),
    ({}, {"max_input_tokens": "32k"}, "max_input_tokens", "input_size"),
])
def test_invalid_numbers_are_not_carried_and_are_named(params, info, key, field):
    models, notes = imported(deployment("m", "hosted_vllm/x", info=info, **params))
    (provider,) = providers(models, "m")
    if field == "weight":
        assert provider["weight"] == 1.0
    else:
        assert field not in provider
    assert any(n.startswith("warning: model_list[0] ('m')") and key in n for n in notes)


# -- ids -----------------------------------------------------------------------------------------

def test_the_same_server_under_two_models_keeps_one_id():
    models, _ = imported(deployment("chat", "ollama_chat/llama3.1:8b", "http://10.0.0.8:11434"),
                         deployment("emb", "ollama/nomic-embed-text", "http://10.0.0.8:11434"))
    assert providers(models, "chat")[0]["id"] == providers(models, "emb")[0]["id"] == "10.0.0.8:11434"


def test_another_root_on_the_same_host_port_and_a_repeat_in_one_model_get_suffixes():
    models, _ = imported(deployment("a", "openai/x", "https://gw.example.org/one/v1"),
                         deployment("b", "openai/y", "https://gw.example.org/two/v1"),
                         deployment("c", "openai/z1", "http://10.0.0.1:8000/v1"),
                         deployment("c", "openai/z2", "http://10.0.0.1:8000/v1"))
    assert providers(models, "a")[0]["id"] == "gw.example.org:443"
    assert providers(models, "b")[0]["id"] == "gw.example.org:443-2"
    assert [p["id"] for p in providers(models, "c")] == ["10.0.0.1:8000", "10.0.0.1:8000-2"]


def test_ids_are_stable_from_run_to_run():
    document = yaml.safe_load((EXAMPLE / "config.yaml").read_text())
    assert to_json(import_litellm(document)[0]) == to_json(import_litellm(document)[0])


def test_ipv6_hosts_get_bracketed_ids():
    models, _ = imported(deployment("m", "hosted_vllm/x", "http://[::1]:8000/v1"))
    assert providers(models, "m")[0]["id"] == "[::1]:8000"


# -- what cannot be mapped -----------------------------------------------------------------------

@pytest.mark.parametrize("entry, reason", [
    (deployment("gpt-4o", "azure/gpt-4o", "https://x.openai.azure.com/"), "provider 'azure'"),
    (deployment("claude", "bedrock/anthropic.claude-3-sonnet-20240229-v1:0", None), "provider 'bedrock'"),
    (deployment("gpt-4o", "gpt-4o"), "no provider prefix"),
    (deployment("gpt-4o", "openai/gpt-4o", None), "no api_base"),
    (deployment("m", "hosted_vllm/x", "ftp://10.0.0.1/"), "not an http"),
    (deployment("m", "hosted_vllm/x", "http://10.0.0.1:port/v1"), "not an http"),
    (deployment("*", "openai/*"), "wildcard"),
    (deployment("all", "openai/*"), "names no single model"),
    ({"model_name": "m"}, "needs a model_name and litellm_params"),
])
def test_unmappable_deployments_are_skipped_with_their_index_and_name(entry, reason):
    keep = deployment("kept", "hosted_vllm/x")
    models, notes = imported(keep, entry)
    assert list(models) == ["kept"]
    skipped = [n for n in notes if n.startswith("warning: skipped model_list[1]")]
    assert len(skipped) == 1 and reason in skipped[0], notes
    name = entry.get("model_name")
    assert f"({name!r})" in skipped[0]


def test_a_model_keeps_its_mappable_deployments():
    models, notes = imported(deployment("gpt-3.5-turbo", "hosted_vllm/bielik"),
                             deployment("gpt-3.5-turbo", "azure/gpt-35-turbo", "https://x.openai.azure.com/"))
    assert len(providers(models, "gpt-3.5-turbo")) == 1
    assert any("skipped model_list[1] ('gpt-3.5-turbo')" in n for n in notes)


def test_parameters_without_a_per_provider_counterpart_are_named_once_per_deployment():
    _, notes = imported(deployment("m", "hosted_vllm/x", rpm=100, tpm=10000, timeout=30, order=1, temperature=0.2))
    (note,) = [n for n in notes if "not carried over" in n]
    assert note.startswith("note: model_list[0] ('m')")
    for key in ("rpm", "tpm", "timeout", "order", "temperature"):
        assert key in note
    assert "llm-router keys create --rate-limit" in note


# -- tokens ---------------------------------------------------------------------------------------

def test_a_literal_api_key_becomes_the_token():
    models, notes = imported(deployment("m", "hosted_vllm/x", api_key=SECRET))
    assert providers(models, "m")[0]["api_token"] == SECRET
    assert not any(SECRET in n for n in notes)


def test_an_env_api_key_is_left_empty_with_a_warning_naming_the_variable():
    models, notes = imported(deployment("m", "hosted_vllm/x", api_key="os.environ/BIELIK_KEY"),
                             environment_variables={"BIELIK_KEY": SECRET})
    assert providers(models, "m")[0]["api_token"] == ""
    assert any("model_list[0] ('m')" in n and "$BIELIK_KEY" in n and "--resolve-env" in n for n in notes)
    assert not any(SECRET in n for n in notes)


def test_an_env_api_key_is_read_when_resolving():
    models, notes = imported(deployment("m", "hosted_vllm/x", api_key="os.environ/BIELIK_KEY"),
                             environ={"BIELIK_KEY": SECRET})
    assert providers(models, "m")[0]["api_token"] == SECRET
    assert not any(SECRET in n or "BIELIK_KEY" in n for n in notes)


def test_the_files_environment_variables_count_when_resolving():
    models, _ = imported(deployment("m", "hosted_vllm/x", api_key="os.environ/K"),
                         environ={"K": "from-the-process"}, environment_variables={"K": SECRET})
    assert providers(models, "m")[0]["api_token"] == SECRET


def test_an_unset_variable_when_resolving_is_a_warning():
    models, notes = imported(deployment("m", "hosted_vllm/x", api_key="os.environ/MISSING"), environ={})
    assert providers(models, "m")[0]["api_token"] == ""
    assert any("$MISSING, which is not set" in n for n in notes)


def test_an_env_api_base_needs_resolving():
    entry = deployment("m", "hosted_vllm/x", "os.environ/VLLM_BASE")
    models, notes = imported(deployment("kept", "hosted_vllm/x"), entry)
    assert "m" not in models and any("skipped model_list[1] ('m')" in n and "$VLLM_BASE" in n for n in notes)
    models, _ = imported(entry, environ={"VLLM_BASE": "http://10.0.0.9:8000/v1"})
    assert providers(models, "m")[0]["api_host"] == "http://10.0.0.9:8000/"


def test_a_master_key_is_never_shown():
    _, notes = imported(deployment("m", "hosted_vllm/x"), general_settings={"master_key": SECRET},
                        router_settings={"redis_password": SECRET})
    assert any("llm-router keys create" in n for n in notes)
    assert not any(SECRET in n for n in notes)


# -- aliases and settings ------------------------------------------------------------------------

def test_model_group_alias_becomes_aliases_in_both_forms():
    models, _ = imported(deployment("gpt-3.5-turbo", "hosted_vllm/x"), deployment("emb", "hosted_vllm/e"),
                         router_settings={"model_group_alias": {"bielik": "gpt-3.5-turbo",
                                                                "ada": {"model": "emb", "hidden": True}}})
    assert models["gpt-3.5-turbo"]["aliases"] == ["bielik"]
    assert models["emb"]["aliases"] == ["ada"]


def test_aliases_to_missing_models_or_taken_names_are_skipped():
    models, notes = imported(deployment("a", "hosted_vllm/x"), deployment("b", "hosted_vllm/y"),
                             router_settings={"model_group_alias": {"x": "nope", "b": "a"}})
    assert "aliases" not in models["a"]
    assert any("'x'" in n and "not imported" in n for n in notes)
    assert any("'b'" in n and "already taken" in n for n in notes)


@pytest.mark.parametrize("litellm_strategy", sorted(STRATEGY_SUGGESTIONS))
def test_each_routing_strategy_suggests_one_of_ours(litellm_strategy):
    ours = STRATEGY_SUGGESTIONS[litellm_strategy][0]
    assert ours in STRATEGIES
    _, notes = imported(deployment("m", "hosted_vllm/x"), router_settings={"routing_strategy": litellm_strategy})
    assert any(f"LLM_ROUTER_BALANCE_STRATEGY={ours}" in n for n in notes)


def test_an_unknown_routing_strategy_lists_ours():
    _, notes = imported(deployment("m", "hosted_vllm/x"), router_settings={"routing_strategy": "custom"})
    assert any("'custom' has no counterpart" in n and "least_outstanding" in n for n in notes)


def test_settings_without_counterpart_are_named():
    _, notes = imported(deployment("m", "hosted_vllm/x"),
                        litellm_settings={"fallbacks": [{"m": ["n"]}], "cache": True, "max_budget": 10},
                        router_settings={"num_retries": 2, "cooldown_time": 30})
    text = "\n".join(notes)
    assert "litellm_settings.fallbacks: not carried over; failover between a model's providers is built in" in text
    assert "litellm_settings.cache: not carried over" in text
    assert "--token-budget" in text
    assert "router_settings.num_retries=2: use LLM_ROUTER_FAILOVER_MAX_ATTEMPTS" in text
    assert "LLM_ROUTER_CIRCUIT_BREAKER_COOLDOWN_SECONDS" in text


@pytest.mark.parametrize("document", [None, [], {"model_list": {"m": 1}}, {"general_settings": {}}])
def test_a_document_that_is_not_a_litellm_config_is_refused(document):
    with pytest.raises(LiteLLMConfigError, match="model_list"):
        import_litellm(document)


def test_the_group_cannot_be_active_models():
    with pytest.raises(LiteLLMConfigError):
        import_litellm({"model_list": []}, group="active_models")


def test_validate_reports_what_our_loader_refuses():
    bad = {"g": {"m": {"providers": [{"id": "a", "api_host": "nope"}]}}, "active_models": {"g": ["m"]}}
    assert validate(bad) == ['$.g.m.providers[0].api_host: must be an http:// or https:// URL of the server root']


# -- the command line -----------------------------------------------------------------------------

def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return str(path)


def test_cli_invalid_yaml_is_one_line_without_the_files_text(tmp_path):
    path = write(tmp_path, f'model_list:\n  - model_name: m\n    litellm_params: {{api_key: "{SECRET}\n')
    done = subprocess.run([sys.executable, "-m", "llm_router_api.cli", "config", "import-litellm", path],
                          capture_output=True, text=True, cwd=REPO_ROOT)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"error: {path}: not valid YAML at line ")
    assert SECRET not in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("text", ["- just\n- a list\n", "", "general_settings: {}\n"])
def test_cli_yaml_that_is_not_a_litellm_config_exits_2(tmp_path, capsys, text):
    assert main(["config", "import-litellm", write(tmp_path, text)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a LiteLLM proxy config" in err


def test_cli_unreadable_file_exits_2(tmp_path, capsys):
    assert main(["config", "import-litellm", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read the file" in capsys.readouterr().err


def test_cli_nothing_importable_exits_1(tmp_path, capsys):
    path = write(tmp_path, "model_list:\n  - model_name: c\n    litellm_params: {model: bedrock/claude}\n")
    assert main(["config", "import-litellm", path]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "skipped model_list[0] ('c')" in err and "nothing could be imported" in err


def test_cli_keeps_tokens_off_stdout_and_writes_them_to_a_private_file(tmp_path, capsys):
    path = write(tmp_path, "model_list:\n  - model_name: m\n    litellm_params:\n      model: hosted_vllm/x\n"
                           f"      api_base: http://10.0.0.1:8000/v1\n      api_key: {SECRET}\n")
    assert main(["config", "import-litellm", path]) == 0
    out, err = capsys.readouterr()
    assert SECRET not in out + err
    assert json.loads(out)[DEFAULT_GROUP]["m"]["providers"][0]["api_token"] == ""
    assert "1 api_token(s) left out of stdout" in err
    target = tmp_path / "out.json"
    assert main(["config", "import-litellm", path, "-o", str(target), "--group", "team"]) == 0
    out, err = capsys.readouterr()
    assert out == "" and SECRET not in err
    assert json.loads(target.read_text())["team"]["m"]["providers"][0]["api_token"] == SECRET
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o600
    assert main(["config", "check", str(target)]) == 0


def test_cli_resolve_env_reads_the_variable(tmp_path, capsys, monkeypatch):
    path = write(tmp_path, "model_list:\n  - model_name: m\n    litellm_params:\n      model: hosted_vllm/x\n"
                           "      api_base: http://10.0.0.1:8000/v1\n      api_key: os.environ/UNIT_LITELLM_KEY\n")
    monkeypatch.setenv("UNIT_LITELLM_KEY", SECRET)
    target = tmp_path / "out.json"
    assert main(["config", "import-litellm", path, "-o", str(target)]) == 0
    assert json.loads(target.read_text())[DEFAULT_GROUP]["m"]["providers"][0]["api_token"] == ""
    assert "$UNIT_LITELLM_KEY; fill in api_token" in capsys.readouterr().err
    assert main(["config", "import-litellm", path, "-o", str(target), "--resolve-env"]) == 0
    assert json.loads(target.read_text())[DEFAULT_GROUP]["m"]["providers"][0]["api_token"] == SECRET
    assert SECRET not in "".join(capsys.readouterr())
