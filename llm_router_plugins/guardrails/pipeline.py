"""Several guards in order; the first that flags anything decides.

Each guard sees only the texts it has not judged before (the cache answers for the rest), in
one call. A guard that fails raises :class:`GuardUnavailable`; what that means for the request
(fail closed or open) is the caller's policy.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

from .base import Flag, Guardrail, Verdict
from .cache import VerdictCache

#: ``observe(guardrail, seconds)``: told how long each guard call took (the gateway's histogram).
Observe = Callable[[str, float], None]


class GuardrailPipeline:
    def __init__(self, guards: Sequence[Guardrail], cache: VerdictCache | None = None,
                 observe: Observe | None = None):
        self.guards = list(guards)
        self.cache = cache if cache is not None else VerdictCache(max_entries=0)
        self._observe = observe or (lambda name, seconds: None)

    @property
    def names(self) -> list[str]:
        return [guard.name for guard in self.guards]

    def check(self, texts: Sequence[str], *, remember: bool = True) -> list[Flag]:
        """What the first guard that flags anything flagged in ``texts``; empty when all pass.

        ``remember``: look verdicts up in the cache and keep new ones (off for texts that will not
        come again, such as the windows of a stream).
        """
        for guard in self.guards:
            flags = [Flag(guard.name, index, verdict)
                     for index, verdict in enumerate(self._verdicts(guard, texts, remember)) if not verdict.safe]
            if flags:
                return flags
        return []

    def _verdicts(self, guard: Guardrail, texts: Sequence[str], remember: bool) -> list[Verdict]:
        keys = [self.cache.key(guard.name, text) for text in texts] if remember else []
        verdicts: list[Verdict | None] = [self.cache.get(key) for key in keys] if remember else [None] * len(texts)
        unknown = [index for index, verdict in enumerate(verdicts) if verdict is None and texts[index].strip()]
        if unknown:
            started = time.perf_counter()
            try:
                fresh = guard.check([texts[index] for index in unknown])
            finally:
                self._observe(guard.name, time.perf_counter() - started)
            for index, verdict in zip(unknown, fresh):
                verdicts[index] = verdict
                if remember:
                    self.cache.put(keys[index], verdict)
        return [verdict or Verdict(safe=True) for verdict in verdicts]  # blank texts are safe
