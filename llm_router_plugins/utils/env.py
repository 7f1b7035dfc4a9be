"""Typed reads of ``LLM_ROUTER_*`` variables, each failure one line naming the variable.

The gateway's settings and the guard service's both read their variables through this, so a
malformed value is reported the same way everywhere: ``NAME='raw': must be an integer >= 1``.
"""

from __future__ import annotations

from typing import Callable, Mapping, TypeVar

T = TypeVar("T")

TRUE = frozenset({"1", "true", "yes", "on"})
FALSE = frozenset({"0", "false", "no", "off", ""})


class EnvReader:
    def __init__(self, environ: Mapping[str, str], error: type[Exception]):
        self._environ = environ
        self._error = error  # the caller's settings error: raised with one line naming the variable

    def given(self, name: str) -> bool:
        """Set at all, even to an empty value (which can mean "none")."""
        return name in self._environ

    def has(self, name: str) -> bool:
        return self._environ.get(name, "").strip() != ""

    def text(self, name: str, default: str) -> str:
        raw = self._environ.get(name)
        return default if raw is None or raw.strip() == "" else raw.strip()

    def parse(self, name: str, default: T, parser: Callable[[str], T]) -> T:
        raw = self._environ.get(name)
        if raw is None:
            return default
        try:
            return parser(raw)
        except ValueError as exc:
            raise self._error(f"{name}={raw!r}: {exc}") from None

    def secret(self, name: str) -> str | None:
        """A value kept as given (a password may have spaces); never echoed in errors."""
        raw = self._environ.get(name)
        return raw if raw else None

    def boolean(self, name: str, default: bool) -> bool:
        """An empty value is false (``VAR=`` switches a feature off)."""
        def parse_bool(raw: str) -> bool:
            value = raw.strip().lower()
            if value in TRUE:
                return True
            if value in FALSE:
                return False
            raise ValueError("must be a boolean (1/0, true/false, yes/no, on/off)")

        return self.parse(name, default, parse_bool)

    def integer(self, name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
        if not self.has(name):
            return default
        return self.parse(name, default, lambda raw: bounded(convert(int, raw, "an integer"), minimum, maximum,
                                                             "an integer"))

    def number(self, name: str, default: float, *, minimum: float | None = None,
               maximum: float | None = None) -> float:
        if not self.has(name):
            return default
        return self.parse(name, default, lambda raw: bounded(convert(float, raw, "a number"), minimum, maximum,
                                                             "a number"))

    def choice(self, name: str, default: str, choices: tuple[str, ...], *, upper: bool = False,
               lower: bool = False) -> str:
        def parse_choice(raw: str) -> str:
            value = raw.strip()
            value = value.upper() if upper else value.lower() if lower else value
            if value not in choices:
                raise ValueError(f"must be one of: {', '.join(choices)}")
            return value

        return self.parse(name, default, parse_choice) if self.has(name) else default


def convert(kind_type: Callable[[str], T], raw: str, kind: str) -> T:
    try:
        return kind_type(raw.strip())
    except ValueError:
        raise ValueError(f"must be {kind}") from None


def bounded(value, minimum, maximum, kind: str):
    if value != value or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            bounds = f" >= {minimum}"
        elif minimum is None:
            bounds = f" <= {maximum}"
        else:
            bounds = f" between {minimum} and {maximum}"
        raise ValueError(f"must be {kind}{bounds}")
    return value
