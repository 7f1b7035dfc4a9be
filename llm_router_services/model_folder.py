"""What a guard's model folder holds, read without torch: labels, problem type, the files it needs.

gunicorn's master runs this before any worker starts, so a wrong path or a wrong label name stops
start-up with one line instead of workers failing to boot one after another. The worker then loads
the model itself (``classifier.py``), which catches what only loading can (broken weights, CUDA).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .settings import GuardSettings, ServiceSettings, SettingsError
from .verdicts import DecisionRules

WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class ModelFolder:
    path: Path
    labels: tuple[str, ...]
    problem_type: str | None
    rules: DecisionRules

    @property
    def display_name(self) -> str:
        """The folder's last name only: /health never shows where models are kept."""
        return self.path.name


def inspect_folder(guard: GuardSettings) -> ModelFolder:
    """Read and check ``config.json`` of the guard's folder; one-line :class:`SettingsError` otherwise."""
    variable = guard.variable("MODEL_PATH")
    path = Path(guard.model_path or "")
    where = f"{variable}={guard.model_path!r}"
    if not path.is_dir():
        raise SettingsError(f"{where}: no such folder (it must be a save_pretrained directory of the model)")
    config_file = path / "config.json"
    if not config_file.is_file():
        raise SettingsError(f"{where}: no model there (config.json missing)")
    try:
        config = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SettingsError(f"{where}: config.json is not readable JSON ({exc})") from None
    if not any((path / name).is_file() for name in WEIGHT_FILES):
        raise SettingsError(f"{where}: no weights there (none of {', '.join(WEIGHT_FILES)})")
    id2label = config.get("id2label") if isinstance(config, dict) else None
    if not isinstance(id2label, dict) or not id2label:
        raise SettingsError(f"{where}: config.json has no id2label (not a sequence classification model?)")
    try:
        labels = tuple(str(id2label[key]) for key in sorted(id2label, key=int))
    except (TypeError, ValueError):
        raise SettingsError(f"{where}: config.json's id2label keys are not label ids") from None
    problem_type = config.get("problem_type")
    if problem_type == "regression":
        raise SettingsError(f"{where}: a regression model, not a classifier")
    return ModelFolder(path, labels, problem_type, DecisionRules.for_model(guard, labels, problem_type))


def check_startup(settings: ServiceSettings, *, python: str = sys.executable) -> None:
    """Every enabled guard's folder, and its CUDA device if it asks for one, before workers start.

    CUDA is checked in a short child process: initialising CUDA in gunicorn's master would break it
    in the forked workers.
    """
    for guard in settings.enabled_guards:
        inspect_folder(guard)
    cuda_guards = [g for g in settings.enabled_guards if g.device >= 0]
    if not cuda_guards:
        return
    probe = subprocess.run(
        [python, "-c", "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)"],
        capture_output=True, text=True, timeout=120,
    )
    count = int(probe.stdout.strip() or 0) if probe.returncode == 0 else 0
    for guard in cuda_guards:
        if guard.device >= count:
            raise SettingsError(cuda_problem(guard, count))


def cuda_problem(guard: GuardSettings, count: int) -> str:
    variable = f"{guard.variable('DEVICE')}={guard.device}"
    if count == 0:
        return f"{variable}: CUDA is not available here (no GPU, or torch without CUDA); use -1 for the CPU"
    return f"{variable}: no such CUDA device (this machine has {count}: 0..{count - 1}); use -1 for the CPU"
