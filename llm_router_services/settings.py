"""Guard service settings: every variable it reads, parsed once into frozen objects.

Nothing else in the package reads the environment. A missing variable takes its documented
default (README.md next to this file); a malformed one raises :class:`SettingsError` whose message
is one line naming the variable, so start-up can stop with exactly that line. Rules that need the
model (threshold label names, the window size against the model's positions, CUDA devices) are
checked where the model is read, with the same kind of line.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping

from llm_router_plugins.utils.env import EnvReader


DTYPES = ("auto", "float32", "float16", "bfloat16")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class SettingsError(ValueError):
    """A variable has a value the service cannot start with; the message is one line."""


@dataclass(frozen=True)
class GuardSettings:
    """One guard model: where it is, where it runs, and when its verdict is "unsafe"."""

    name: str  # the route's last part: /api/guardrails/<name>
    variable_prefix: str  # LLM_ROUTER_SOJKA_GUARD: errors name the variable to fix
    enabled: bool = False
    model_path: str | None = None
    device: int = -1  # -1: CPU; N: cuda:N
    threshold: float = 0.7  # a label is flagged at or above its threshold
    thresholds: tuple[tuple[str, float], ...] = ()  # per-label overrides, checked against the model's labels
    safe_labels: tuple[str, ...] = ("safe",)  # labels that never make a text unsafe (single-label models)

    def variable(self, suffix: str) -> str:
        return f"{self.variable_prefix}_{suffix}"

    @property
    def device_name(self) -> str:
        return "cpu" if self.device < 0 else f"cuda:{self.device}"


@dataclass(frozen=True)
class ServiceSettings:
    host: str = "0.0.0.0"
    port: int = 5000
    workers: int = 1  # each worker holds its own copy of every model: 1 is right for one GPU
    threads: int = 32  # gthread threads per worker; they wait on the batcher while it runs the model
    timeout: int = 120  # gunicorn's worker timeout (seconds), which also bounds a worker's start-up
    log_level: str = "INFO"
    max_request_body_size: int = 1024 * 1024
    max_texts: int = 512  # texts in one payload
    dtype: str = "auto"  # auto: float32 on CPU, bfloat16 (or float16) on CUDA
    max_tokens: int | None = None  # tokens per window (without special tokens); None: the model's limit
    overlap_tokens: int = 64
    max_batch_size: int = 64  # windows per forward pass
    batch_wait_ms: float = 2.0  # how long the batcher waits for more windows after the first
    request_timeout: float = 30.0  # seconds a request waits for its verdict before a 503
    torch_threads: int | None = None  # intra-op threads of torch on CPU; None: torch's default
    sojka: GuardSettings = field(default_factory=lambda: GuardSettings("sojka_guard", "LLM_ROUTER_SOJKA_GUARD",
                                                                       enabled=True))
    nask: GuardSettings = field(default_factory=lambda: GuardSettings("nask_guard", "LLM_ROUTER_NASK_PIB_GUARD",
                                                                      threshold=0.5))

    @property
    def guards(self) -> tuple[GuardSettings, ...]:
        return (self.sojka, self.nask)

    @property
    def enabled_guards(self) -> tuple[GuardSettings, ...]:
        return tuple(g for g in self.guards if g.enabled)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> "ServiceSettings":
        env = EnvReader(os.environ if environ is None else environ, SettingsError)
        d = cls()
        return cls(
            host=env.text("LLM_ROUTER_API_HOST", d.host),
            port=env.integer("LLM_ROUTER_API_PORT", d.port, minimum=1, maximum=65535),
            workers=env.integer("LLM_ROUTER_GUARD_WORKERS", d.workers, minimum=1),
            threads=env.integer("LLM_ROUTER_GUARD_THREADS", d.threads, minimum=1),
            timeout=env.integer("LLM_ROUTER_GUARD_TIMEOUT", d.timeout, minimum=0),
            log_level=env.choice("LLM_ROUTER_LOG_LEVEL", d.log_level, LOG_LEVELS, upper=True),
            max_request_body_size=env.integer("LLM_ROUTER_GUARD_MAX_REQUEST_BODY_SIZE", d.max_request_body_size,
                                              minimum=64),
            max_texts=env.integer("LLM_ROUTER_GUARD_MAX_TEXTS", d.max_texts, minimum=1),
            dtype=env.choice("LLM_ROUTER_GUARD_DTYPE", d.dtype, DTYPES, lower=True),
            max_tokens=(env.integer("LLM_ROUTER_GUARD_MAX_TOKENS", 0, minimum=8)
                        if env.has("LLM_ROUTER_GUARD_MAX_TOKENS") else None),
            overlap_tokens=env.integer("LLM_ROUTER_GUARD_OVERLAP_TOKENS", d.overlap_tokens, minimum=0),
            max_batch_size=env.integer("LLM_ROUTER_GUARD_MAX_BATCH_SIZE", d.max_batch_size, minimum=1),
            batch_wait_ms=env.number("LLM_ROUTER_GUARD_BATCH_WAIT_MS", d.batch_wait_ms, minimum=0, maximum=1000),
            request_timeout=env.number("LLM_ROUTER_GUARD_REQUEST_TIMEOUT", d.request_timeout, minimum=0.001),
            torch_threads=(env.integer("LLM_ROUTER_GUARD_TORCH_THREADS", 0, minimum=1)
                           if env.has("LLM_ROUTER_GUARD_TORCH_THREADS") else None),
            sojka=_guard(env, d.sojka),
            nask=_guard(env, d.nask),
        )._checked()

    def _checked(self) -> "ServiceSettings":
        """Rules across variables, each failure one line naming the variable to set."""
        if self.max_tokens is not None and self.overlap_tokens >= self.max_tokens:
            raise SettingsError(f"LLM_ROUTER_GUARD_OVERLAP_TOKENS={self.overlap_tokens} must be smaller than "
                                f"LLM_ROUTER_GUARD_MAX_TOKENS={self.max_tokens}")
        for guard in self.enabled_guards:
            if not guard.model_path:
                raise SettingsError(f"{guard.variable('MODEL_PATH')} must name the model's folder (a "
                                    f"save_pretrained directory) when {guard.variable('ENABLED')}=1")
        return self


def _guard(env: EnvReader, d: GuardSettings) -> GuardSettings:
    v = d.variable
    return GuardSettings(
        name=d.name,
        variable_prefix=d.variable_prefix,
        enabled=env.boolean(v("ENABLED"), d.enabled),
        model_path=env.text(v("MODEL_PATH"), "") or None,
        device=env.parse(v("DEVICE"), d.device, _device) if env.has(v("DEVICE")) else d.device,
        threshold=env.number(v("THRESHOLD"), d.threshold, minimum=0, maximum=1),
        thresholds=env.parse(v("THRESHOLDS"), d.thresholds, _thresholds),
        safe_labels=env.parse(v("SAFE_LABELS"), d.safe_labels, _names),
    )


def _device(raw: str) -> int:
    value = raw.strip().lower()
    if value == "cpu":
        return -1
    if value.startswith("cuda:"):
        value = value[5:]
    try:
        device = int(value)
    except ValueError:
        raise ValueError("must be -1 (CPU) or a CUDA device number N (cuda:N)") from None
    if device < -1:
        raise ValueError("must be -1 (CPU) or a CUDA device number N (cuda:N)")
    return device


def _thresholds(raw: str) -> tuple[tuple[str, float], ...]:
    """``HATE=0.5,SELF-HARM=0.4``: label names are checked against the model when it is read."""
    out: dict[str, float] = {}
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        label, sep, value = item.rpartition("=")
        label = label.strip()
        if not sep or not label:
            raise ValueError(f"{item!r} is not LABEL=THRESHOLD (e.g. HATE=0.5,SELF-HARM=0.4)")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"threshold of {label!r} must be a number between 0 and 1") from None
        if not 0 <= number <= 1:
            raise ValueError(f"threshold of {label!r} must be a number between 0 and 1")
        out[label] = number
    return tuple(out.items())


def _names(raw: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in raw.split(",") if name.strip())
