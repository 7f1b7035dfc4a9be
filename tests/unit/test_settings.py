import pytest

from llm_router_api.settings import Settings, SettingsError


def test_defaults_without_any_variable():
    settings = Settings.from_environ({})
    assert settings == Settings()
    assert settings.ep_prefix == "/api"
    assert settings.server_port == 8080
    assert settings.failover_deadline == settings.external_timeout * settings.failover_max_attempts


def test_every_variable_is_parsed():
    settings = Settings.from_environ({
        "LLM_ROUTER_MODELS_CONFIG": "/etc/llm/models.json",
        "LLM_ROUTER_EP_PREFIX": "/gateway/",
        "LLM_ROUTER_EXTERNAL_TIMEOUT": "12.5",
        "LLM_ROUTER_CONNECT_TIMEOUT": "0.5",
        "LLM_ROUTER_TIMEOUT": "30",
        "LLM_ROUTER_MAX_REQUEST_BODY_SIZE": "1024",
        "LLM_ROUTER_IN_DEBUG": "yes",
        "LLM_ROUTER_LOG_LEVEL": "debug",
        "LLM_ROUTER_LOG_FILENAME": "/tmp/gw.log",
        "LLM_ROUTER_MINIMUM": "1",
        "LLM_ROUTER_SERVER_TYPE": "flask",
        "LLM_ROUTER_SERVER_PORT": "9000",
        "LLM_ROUTER_SERVER_WORKERS_COUNT": "4",
        "LLM_ROUTER_SERVER_THREADS_COUNT": "8",
        "LLM_ROUTER_SERVER_WORKER_CLASS": "gthread",
        "LLM_ROUTER_BALANCE_STRATEGY": "weighted",
        "LLM_ROUTER_FAILOVER_MAX_ATTEMPTS": "5",
        "LLM_ROUTER_FAILOVER_DEADLINE_SECONDS": "7",
        "LLM_ROUTER_CIRCUIT_BREAKER_FAILURES": "2",
        "LLM_ROUTER_CIRCUIT_BREAKER_COOLDOWN_SECONDS": "4",
        "LLM_ROUTER_REDIS_HOST": "redis.internal",
        "LLM_ROUTER_REDIS_PORT": "6380",
        "LLM_ROUTER_REDIS_DB": "3",
        "LLM_ROUTER_REDIS_PASSWORD": "s3cret with space",
        "LLM_ROUTER_REDIS_KEY_PREFIX": "gw-prod",
        "LLM_ROUTER_QUEUE_WAIT_SECONDS": "5",
        "LLM_ROUTER_LEASE_TTL_SECONDS": "20",
        "LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS": "0",
        "LLM_ROUTER_KEEPALIVE_MODEL_MONITOR_INTERVAL_SECONDS": "120",
    })
    assert settings.models_config == "/etc/llm/models.json"
    assert settings.ep_prefix == "/gateway"
    assert settings.external_timeout == 12.5 and settings.connect_timeout == 0.5
    assert settings.max_request_body_size == 1024
    assert settings.in_debug and settings.minimum
    assert settings.log_level == "DEBUG" and settings.log_filename == "/tmp/gw.log"
    assert (settings.server_type, settings.server_port, settings.server_workers_count) == ("flask", 9000, 4)
    assert (settings.server_threads_count, settings.server_worker_class) == (8, "gthread")
    assert settings.balance_strategy == "weighted"
    assert settings.failover_max_attempts == 5 and settings.failover_deadline == 7
    assert settings.circuit_breaker_failures == 2 and settings.circuit_breaker_cooldown_seconds == 4
    assert (settings.redis_host, settings.redis_port, settings.redis_db) == ("redis.internal", 6380, 3)
    assert settings.redis_password == "s3cret with space" and settings.redis_key_prefix == "gw-prod"
    assert "s3cret" not in repr(settings)  # settings may be logged; the password must not be
    assert settings.queue_wait_seconds == 5 and settings.lease_ttl_seconds == 20
    assert settings.provider_monitor_interval_seconds == 0 and settings.keepalive_model_monitor_interval_seconds == 120


@pytest.mark.parametrize("strategy", ["balanced", "weighted", "dynamic_weighted", "first_available",
                                      "first_available_optim", "least_outstanding"])
def test_every_strategy_of_the_contract_and_ours_is_accepted(strategy):
    assert Settings.from_environ({"LLM_ROUTER_BALANCE_STRATEGY": strategy}).balance_strategy == strategy


def test_no_redis_host_means_per_process_leases():
    assert Settings.from_environ({}).redis_host is None


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        Settings().server_port = 1


@pytest.mark.parametrize("name,value,expected", [
    ("LLM_ROUTER_SERVER_PORT", "abc", "LLM_ROUTER_SERVER_PORT='abc': must be an integer"),
    ("LLM_ROUTER_SERVER_PORT", "70000", "LLM_ROUTER_SERVER_PORT='70000': must be an integer between 1 and 65535"),
    ("LLM_ROUTER_EXTERNAL_TIMEOUT", "-1", "LLM_ROUTER_EXTERNAL_TIMEOUT='-1': must be a number >= 0.001"),
    ("LLM_ROUTER_IN_DEBUG", "maybe", "LLM_ROUTER_IN_DEBUG='maybe': must be a boolean"),
    ("LLM_ROUTER_SERVER_TYPE", "uwsgi", "LLM_ROUTER_SERVER_TYPE='uwsgi': must be one of: gunicorn, flask"),
    ("LLM_ROUTER_BALANCE_STRATEGY", "random", "LLM_ROUTER_BALANCE_STRATEGY='random': must be one of"),
    ("LLM_ROUTER_REDIS_KEY_PREFIX", "two words", "LLM_ROUTER_REDIS_KEY_PREFIX='two words': must be a non-empty"),
    ("LLM_ROUTER_LEASE_TTL_SECONDS", "0.5", "LLM_ROUTER_LEASE_TTL_SECONDS='0.5': must be a number >= 1"),
    ("LLM_ROUTER_QUEUE_WAIT_SECONDS", "soon", "LLM_ROUTER_QUEUE_WAIT_SECONDS='soon': must be a number"),
    ("LLM_ROUTER_EP_PREFIX", "api", "must start with '/'"),
    ("LLM_ROUTER_LOG_LEVEL", "LOUD", "LLM_ROUTER_LOG_LEVEL='LOUD': must be one of"),
])
def test_a_bad_value_is_one_line_naming_the_variable(name, value, expected):
    with pytest.raises(SettingsError) as caught:
        Settings.from_environ({name: value})
    message = str(caught.value)
    assert expected in message
    assert message.startswith(name) and "\n" not in message


def test_masking_and_audit_variables():
    settings = Settings.from_environ({
        "LLM_ROUTER_FORCE_MASKING": "1", "LLM_ROUTER_MASKING_STRATEGY_PIPELINE": " fast_masker , ",
        "LLM_ROUTER_MASKING_WITH_AUDIT": "true", "LLM_ROUTER_AUDIT_PUBLIC_KEY": "/keys/audit-public.pem",
        "LLM_ROUTER_AUDIT_DIR": "/var/log/llm-router", "LLM_ROUTER_AUDIT_MAX_SEGMENT_BYTES": "1048576",
        "LLM_ROUTER_MASKING_UNMASK_RESPONSES": "0", "LLM_ROUTER_LOG_MASKED_CONTENT": "1"})
    assert settings.force_masking and settings.masking_with_audit and settings.audit_needed
    assert settings.masking_pipeline == ("fast_masker",)
    assert (settings.audit_public_key, settings.audit_dir, settings.audit_max_segment_bytes) == \
        ("/keys/audit-public.pem", "/var/log/llm-router", 1048576)
    assert not settings.unmask_responses and settings.log_masked_content
    defaults = Settings.from_environ({})
    assert not defaults.force_masking and defaults.unmask_responses and not defaults.audit_needed


@pytest.mark.parametrize("variables,expected", [
    ({"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "fast_masker,presidio"},
     "LLM_ROUTER_MASKING_STRATEGY_PIPELINE='fast_masker,presidio': unknown masker 'presidio'; known: fast_masker"),
    ({"LLM_ROUTER_MASKING_WITH_AUDIT": "1"}, "LLM_ROUTER_AUDIT_PUBLIC_KEY must name a public key file"),
    ({"LLM_ROUTER_AUDIT_MAX_SEGMENT_BYTES": "100"}, "LLM_ROUTER_AUDIT_MAX_SEGMENT_BYTES='100': must be an integer >= 4096"),
])
def test_masking_and_audit_mistakes_stop_start_up_with_one_line(variables, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_environ(variables)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)


def test_auth_variables():
    secret = "s3cr3t-" * 4
    settings = Settings.from_environ({
        "LLM_ROUTER_AUTH_ENABLED": "1", "LLM_ROUTER_AUTH_SECRET": secret, "LLM_ROUTER_AUTH_KEY_STORE": "memory",
        "LLM_ROUTER_AUTH_KEYS_FILE": "/etc/llm-router/keys.json", "LLM_ROUTER_AUTH_DEFAULT_RATE_LIMIT": "120",
        "LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS": "/ping, /api/ping,/apidocs*", "LLM_ROUTER_TRUSTED_PROXIES": "10.0.0.0/8,::1",
        "LLM_ROUTER_MAX_JSON_DEPTH": "32", "LLM_ROUTER_REDIS_HOST": "redis", "LLM_ROUTER_AUTH_REDIS_DB": "3"})
    assert settings.auth_enabled and settings.auth_key_store == "file"  # memory: the old name of file
    assert settings.auth_keys_file == "/etc/llm-router/keys.json" and settings.auth_default_rate_limit == 120
    assert settings.auth_public_endpoints == ("/ping", "/api/ping", "/apidocs*")
    assert settings.trusted_proxies == ("10.0.0.0/8", "::1") and settings.max_json_depth == 32
    assert settings.auth_redis == ("redis", 6379, 3, None)  # the balancing Redis, another DB
    assert secret not in repr(settings)
    assert Settings.from_environ({"LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS": ""}).auth_public_endpoints == ()
    assert Settings.from_environ({}).auth_public_endpoints is None  # the default list


@pytest.mark.parametrize("variables,expected", [
    ({"LLM_ROUTER_AUTH_ENABLED": "1"}, "LLM_ROUTER_AUTH_SECRET must be set"),
    ({"LLM_ROUTER_AUTH_SECRET": "short"}, "LLM_ROUTER_AUTH_SECRET must be at least 16"),
    ({"LLM_ROUTER_AUTH_KEY_STORE": "postgres"}, "LLM_ROUTER_AUTH_KEY_STORE='postgres': must be one of: file, redis"),
    ({"LLM_ROUTER_TRUSTED_PROXIES": "10.0.0.0/8,proxy.local"}, "LLM_ROUTER_TRUSTED_PROXIES='10.0.0.0/8,proxy.local': "
                                                               "'proxy.local' is not an IP address"),
    ({"LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS": "ping"}, "LLM_ROUTER_AUTH_PUBLIC_ENDPOINTS='ping': each path must start"),
    ({"LLM_ROUTER_AUTH_WITH_AUDIT": "1"}, "LLM_ROUTER_AUDIT_PUBLIC_KEY must name a public key file when "
                                          "LLM_ROUTER_AUTH_WITH_AUDIT=1"),
])
def test_auth_mistakes_stop_start_up_with_one_line(variables, expected):
    with pytest.raises(SettingsError) as error:
        Settings.from_environ(variables)
    assert str(error.value).startswith(expected) and "\n" not in str(error.value)
    assert "short" not in str(error.value)  # a secret is never echoed
