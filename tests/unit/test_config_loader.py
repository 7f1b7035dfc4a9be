import json
import logging

import pytest

from llm_router_api.config import ConfigError, ConfigStore, parse_models_config

BIELIK = "speakleash/Bielik-11B-v2.3-Instruct"


def document(**model_overrides):
    model = {"providers": [{"id": "bielik-71:7000", "api_host": "http://192.168.100.71:7000/", "api_token": "",
                            "api_type": "vllm", "input_size": 32768, "model_path": "", "weight": 1.0,
                            "keep_alive": ""}],
             "providers_sleep": []}
    model.update(model_overrides)
    return {"speakleash_models": {BIELIK: model}, "active_models": {"speakleash_models": [BIELIK]}}


def problems(doc) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_models_config(json.dumps(doc))
    return [str(p) for p in caught.value.problems]


def test_reads_the_llm_router_format_as_is():
    config = parse_models_config(json.dumps(document()))
    model = config.resolve(BIELIK)
    assert model.group == "speakleash_models"
    (provider,) = model.providers
    assert provider.id == "bielik-71:7000" and provider.api_type == "vllm"
    assert provider.input_size == 32768 and provider.weight == 1.0 and provider.max_concurrency is None
    assert model.upstream_name(provider) == BIELIK  # empty model_path: the model's own name


def test_only_active_models_are_served_and_aliases_resolve():
    doc = document(aliases=["gpt-3.5-turbo"])
    doc["speakleash_models"]["inactive"] = {"providers": [{"id": "x", "api_host": "http://h:1/"}]}
    config = parse_models_config(json.dumps(doc))
    assert config.resolve("inactive") is None
    assert config.resolve("gpt-3.5-turbo").name == BIELIK
    assert [name for name, _ in config.public_names()] == [BIELIK, "gpt-3.5-turbo"]


def test_our_optional_keys():
    doc = document()
    doc["speakleash_models"][BIELIK]["providers"][0].update(max_concurrency=64, model_path="/models/bielik")
    model = parse_models_config(json.dumps(doc)).resolve(BIELIK)
    assert model.providers[0].max_concurrency == 64
    assert model.upstream_name(model.providers[0]) == "/models/bielik"


def test_provider_repr_hides_host_and_token():
    doc = document()
    doc["speakleash_models"][BIELIK]["providers"][0]["api_token"] = "sk-secret"
    provider = parse_models_config(json.dumps(doc)).resolve(BIELIK).providers[0]
    assert "sk-secret" not in repr(provider) and "192.168" not in repr(provider)


def test_every_problem_is_reported_with_its_json_path():
    doc = document()
    bad = doc["speakleash_models"][BIELIK]["providers"][0]
    bad.update(api_host="ftp://x", weight=-1, api_type="grpc", max_concurrency=0, input_size="big")
    doc["speakleash_models"][BIELIK]["providers"].append({"api_host": "http://h:1/"})
    found = problems(doc)
    base = '$.speakleash_models["speakleash/Bielik-11B-v2.3-Instruct"].providers'
    assert f"{base}[0].api_host: must be an http:// or https:// URL of the server root" in found
    assert any(p.startswith(f"{base}[0].weight:") for p in found)
    assert any(p.startswith(f"{base}[0].api_type: must be one of") for p in found)
    assert any(p.startswith(f"{base}[0].max_concurrency:") for p in found)
    assert any(p.startswith(f"{base}[0].input_size:") for p in found)
    assert f"{base}[1].id: is required (a non-empty string)" in found


@pytest.mark.parametrize("doc,expected", [
    ({"g": {}}, "$.active_models: missing"),
    ({"active_models": {"nope": ["m"]}}, "$.active_models.nope: names a group 'nope' that is not defined"),
    ({"g": {}, "active_models": {"g": ["m"]}}, "$.active_models.g[0]: model 'm' is not defined in group 'g'"),
    ({"g": {"m": {"providers": []}}, "active_models": {"g": ["m"]}}, "$.g.m.providers: an active model needs"),
    ({"g": {"m": {"providers": [{"id": "a", "api_host": "http://h/"}, {"id": "a", "api_host": "http://h/"}]}},
      "active_models": {"g": ["m"]}}, "$.g.m.providers[1].id: 'a' appears twice"),
    ({"g": {"m": {"providers": [{"id": "a", "api_host": "http://h/", "api_type": "tgi"}]}},
      "active_models": {"g": ["m"]}}, "$.g.m.providers[0].api_type: must be one of: vllm, openai, llama.cpp, "
                                      "localai, ollama, anthropic"),
    ({"g": {"m": {"providers": [{"id": "a", "api_host": "http://h/"}], "aliases": ["m"]}},
      "active_models": {"g": ["m"]}}, "name 'm' is already served"),
    ({"g": {"m": {"providers": [{"id": "a", "api_host": "http://h1/"}]},
            "n": {"providers": [{"id": "a", "api_host": "http://h2/"}]}},
      "active_models": {"g": ["m", "n"]}}, "one id means one server"),
])
def test_structural_problems(doc, expected):
    assert any(expected in p for p in problems(doc)), problems(doc)


@pytest.mark.parametrize("api_host", ["http://h:99999/", "http://h:abc/", "ftp://h/", "http:///x", "h:7000"])
def test_an_api_host_the_upstream_client_cannot_use_is_refused(api_host):
    doc = {"g": {"m": {"providers": [{"id": "a", "api_host": api_host}]}}, "active_models": {"g": ["m"]}}
    assert problems(doc) == ["$.g.m.providers[0].api_host: must be an http:// or https:// URL of the server root"]


def test_invalid_json_is_reported():
    with pytest.raises(ConfigError) as caught:
        parse_models_config("{nope")
    assert "not valid JSON" in str(caught.value)


def test_same_provider_id_under_two_models_is_one_server():
    doc = {"g": {"m": {"providers": [{"id": "box", "api_host": "http://h/"}]},
                 "n": {"providers": [{"id": "box", "api_host": "http://h/"}]}},
           "active_models": {"g": ["m", "n"]}}
    config = parse_models_config(json.dumps(doc))
    assert config.resolve("m").providers[0].id == config.resolve("n").providers[0].id == "box"


class Clock:
    now = 0.0

    def __call__(self):
        return self.now


def test_store_reloads_changed_file_and_keeps_last_good_one(tmp_path, caplog, monkeypatch):
    # the gateway's logger does not propagate to the root logger, where caplog listens
    monkeypatch.setattr(logging.getLogger("llm_router_api"), "handlers", [caplog.handler])
    path = tmp_path / "models.json"
    path.write_text(json.dumps(document()))
    clock = Clock()
    store = ConfigStore(str(path), reload_interval=1.0, clock=clock)
    first = store.current()
    assert first.resolve(BIELIK)

    renamed = document()
    renamed["speakleash_models"] = {"other": renamed["speakleash_models"][BIELIK]}
    renamed["active_models"] = {"speakleash_models": ["other"]}
    path.write_text(json.dumps(renamed))
    assert store.current() is first  # not checked again before the interval
    clock.now += 1.0
    second = store.current()
    assert second.resolve("other") and not second.resolve(BIELIK)
    assert store.generation == 2

    path.write_text("{broken")
    clock.now += 1.0
    assert store.current() is second  # the last good config keeps serving
    assert "not reloaded" in caplog.text


def test_store_refuses_a_bad_file_at_start(tmp_path):
    path = tmp_path / "models.json"
    path.write_text("[]")
    with pytest.raises(ConfigError):
        ConfigStore(str(path))


def test_an_ollama_host_given_with_v1_means_the_server_root():
    doc = {"g": {"m": {"providers": [{"id": "a", "api_host": "http://box:11434/v1", "api_type": "ollama"},
                                     {"id": "b", "api_host": "http://box:11435/", "api_type": "ollama"},
                                     {"id": "c", "api_host": "http://box:8000/v1", "api_type": "vllm"}]}},
           "active_models": {"g": ["m"]}}
    hosts = [p.api_host for p in parse_models_config(json.dumps(doc)).models[0].providers]
    assert hosts == ["http://box:11434/", "http://box:11435/", "http://box:8000/v1"]
