"""One guard in one worker: its classifier behind its micro-batcher.

A request's texts are cut into windows in the request's own thread; the windows go to the batcher,
whose thread is the only one that runs the model, together with other requests' windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from .batcher import MicroBatcher
from .settings import GuardSettings, ServiceSettings
from .verdicts import response


@dataclass
class Guard:
    settings: GuardSettings
    classifier: object  # classifier.Classifier (imported lazily: it brings torch)
    batcher: MicroBatcher
    request_timeout: float

    @classmethod
    def build(cls, guard: GuardSettings, settings: ServiceSettings) -> "Guard":
        """Load the model (SettingsError, one line, when it cannot be); the batcher's thread starts on first use."""
        from .classifier import Classifier, ClassifierConfig

        classifier = Classifier.load(ClassifierConfig.from_settings(guard, settings))
        batcher = MicroBatcher(classifier.score, max_batch_size=settings.max_batch_size,
                               max_wait_s=settings.batch_wait_ms / 1000.0, name=f"{guard.name}-batcher")
        return cls(guard, classifier, batcher, settings.request_timeout)

    def classify(self, texts: Sequence[str]) -> dict:
        """The API's answer for ``texts``; BatchTimeout or BatchError when the model did not answer."""
        windows = self.classifier.windows(texts)
        scores = self.batcher.run(windows, self.request_timeout)
        return response(texts, windows, scores, self.classifier.rules)

    def describe(self) -> dict:
        b = self.batcher
        return {
            **self.classifier.describe(),
            "batching": {
                "max_batch_size": b.max_batch_size,
                "batch_wait_ms": b.max_wait_s * 1000.0,
                "request_timeout_s": self.request_timeout,
                "queued_windows": b.queued,
                **b.stats.snapshot(),
                "forward_passes": self.classifier.forward_passes,
            },
        }

    def close(self) -> None:
        self.batcher.close()
