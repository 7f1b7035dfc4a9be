"""Load a sequence classifier, cut texts into token windows, score batches of windows.

The only module that imports torch and transformers (the package's import stays cheap). One
:class:`Classifier` serves both guards; what differs (model, device, thresholds, multi- or
single-label) comes from :class:`ClassifierConfig` and the model's own ``config.json``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from .model_folder import ModelFolder, cuda_problem, inspect_folder
from .settings import GuardSettings, ServiceSettings, SettingsError
from .verdicts import DecisionRules, Window

log = logging.getLogger("llm_router_services.classifier")

MAX_SEQUENCE = 512  # tokens per window with special tokens: Bielik-Guard's and HerBERT's limit
# Models whose position ids start after the padding index: max_position_embeddings - (pad + 1) usable.
PADDING_OFFSET_TYPES = {"roberta", "xlm-roberta", "xlm-roberta-xl", "camembert", "data2vec-text",
                        "roberta-prelayernorm", "longformer"}
# On CPU a batch is cut where its padded tokens would exceed this many times its real tokens.
CPU_PADDING_SLACK = 1.3
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything one guard's classifier is built from."""

    guard: GuardSettings
    dtype: str = "auto"
    max_tokens: int | None = None
    overlap_tokens: int = 64
    torch_threads: int | None = None

    @classmethod
    def from_settings(cls, guard: GuardSettings, settings: ServiceSettings) -> "ClassifierConfig":
        return cls(guard, settings.dtype, settings.max_tokens, settings.overlap_tokens, settings.torch_threads)


class Classifier:
    """A loaded model and its tokenizer on one device; ``score`` is called by one thread at a time."""

    def __init__(self, config: ClassifierConfig, folder: ModelFolder, tokenizer, model, device: torch.device,
                 dtype: torch.dtype, window_tokens: int) -> None:
        self.config = config
        self.folder = folder
        self.rules: DecisionRules = folder.rules
        self.tokenizer = tokenizer
        self.model = model
        self.device = device
        self.dtype = dtype
        self.window_tokens = window_tokens  # content tokens per window, special tokens not counted
        self.overlap_tokens = config.overlap_tokens
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self._multi_label = self.rules.multi_label
        self.forward_passes = 0  # model calls; a CPU batch may take several (see score)

    @classmethod
    def load(cls, config: ClassifierConfig) -> "Classifier":
        guard = config.guard
        folder = inspect_folder(guard)
        device = _device(guard)
        dtype = _dtype(config.dtype, device)
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        where = f"{guard.variable('MODEL_PATH')}={guard.model_path!r}"
        transformers.utils.logging.disable_progress_bar()  # no bars in the service's log
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder.path), local_files_only=True)
            dtype_arg = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
            model = AutoModelForSequenceClassification.from_pretrained(
                str(folder.path), local_files_only=True, **{dtype_arg: dtype})
        except Exception as exc:  # any failure to load is one start-up line, not a traceback
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            raise SettingsError(f"{where}: cannot load the model ({type(exc).__name__}: {first[:300]})") from None
        if not getattr(tokenizer, "is_fast", False):
            raise SettingsError(f"{where}: the tokenizer is not a fast one (tokenizer.json missing?); windows "
                                "need its offsets")
        model.to(device)
        model.eval()
        window = _window_tokens(config, tokenizer, model.config)
        log.info("%s: %s loaded on %s as %s, labels %s, %d tokens per window (overlap %d)", guard.name,
                 folder.display_name, device, str(dtype).replace("torch.", ""), ", ".join(folder.labels), window,
                 config.overlap_tokens)
        return cls(config, folder, tokenizer, model, device, dtype, window)

    # --- texts to windows ---------------------------------------------------------------------

    def windows(self, texts: Sequence[str]) -> list[Window]:
        """Each text cut into windows of at most ``window_tokens`` tokens overlapping by ``overlap_tokens``.

        The fast tokenizer gives each text's tokens once, with their character offsets, so a window's
        span is an exact slice of its text; the cutting is ours. (The tokenizer's own overflow with a
        stride is not used: tokenizers 0.23.2 returned only the first two windows of a long text, so
        the end of it was never judged.) Each window gets the special tokens the tokenizer puts around
        a single text. A text without tokens (empty, whitespace) has no window.
        """
        if not texts:
            return []
        encoded = self.tokenizer(list(texts), return_offsets_mapping=True, return_special_tokens_mask=True,
                                 padding=False, truncation=False, verbose=False)
        out: list[Window] = []
        for text_index, (ids, offsets, special) in enumerate(
                zip(encoded["input_ids"], encoded["offset_mapping"], encoded["special_tokens_mask"])):
            content = [i for i, is_special in enumerate(special) if not is_special]
            if not content:
                continue
            before, after = list(ids[:content[0]]), list(ids[content[-1] + 1:])
            for start, end in window_bounds(len(content), self.window_tokens, self.overlap_tokens):
                positions = content[start:end]
                spans = [offsets[i] for i in positions if offsets[i][1] > offsets[i][0]]
                if not spans:
                    continue
                window_ids = before + [ids[i] for i in positions] + after
                out.append(Window(text_index, min(s for s, _ in spans), max(e for _, e in spans), tuple(window_ids)))
        return out

    # --- windows to scores --------------------------------------------------------------------

    def score(self, windows: Sequence[Window]) -> list[list[float]]:
        """Per-label scores (float32, as Python floats) of each window, in the given order.

        Windows are sorted by length and padded to the longest of their pass. On a GPU the whole
        batch is one forward pass (padding is nearly free there, launches are not). On a CPU the cost
        grows with every padded token, so the sorted batch is cut where padding would exceed
        ``CPU_PADDING_SLACK`` of the real tokens: a 20-token message is not run as 200 tokens because
        a long one shares its batch.
        """
        if not windows:
            return []
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        out: list[list[float]] = [[]] * len(windows)
        for group in self._passes(order, windows):
            for i, row in zip(group, self._forward([windows[i].input_ids for i in group])):
                out[i] = row
        return out

    def _passes(self, order: list[int], windows: Sequence[Window]) -> list[list[int]]:
        if self.device.type != "cpu":
            return [order]
        groups: list[list[int]] = []
        group: list[int] = []
        real = 0
        for i in order:  # ascending length: the newest is the longest of its group
            length = len(windows[i].input_ids)
            if group and length * (len(group) + 1) > CPU_PADDING_SLACK * (real + length):
                groups.append(group)
                group, real = [], 0
            group.append(i)
            real += length
        groups.append(group)
        return groups

    def _forward(self, sequences: list[tuple[int, ...]]) -> list[list[float]]:
        """One forward pass over ``sequences`` padded to the longest."""
        longest = max(map(len, sequences))
        ids = torch.full((len(sequences), longest), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, seq in enumerate(sequences):
            ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            mask[row, :len(seq)] = 1
        with torch.inference_mode():
            logits = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).logits.float()
            probs = torch.sigmoid(logits) if self._multi_label else torch.softmax(logits, dim=-1)
            rows = probs.cpu().tolist()
        self.forward_passes += 1
        return rows

    def describe(self) -> dict:
        return {
            "model": self.folder.display_name,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            **self.rules.describe(),
            "max_window_tokens": self.window_tokens,
            "overlap_tokens": self.overlap_tokens,
        }


def _device(guard: GuardSettings) -> torch.device:
    if guard.device < 0:
        return torch.device("cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if guard.device >= count:
        raise SettingsError(cuda_problem(guard, count))
    return torch.device(f"cuda:{guard.device}")


def window_bounds(tokens: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each window over ``tokens`` content tokens: the next starts ``overlap`` before the end."""
    bounds = [(0, min(window, tokens))]
    while bounds[-1][1] < tokens:
        start = bounds[-1][1] - overlap
        bounds.append((start, min(start + window, tokens)))
    return bounds


def _dtype(name: str, device: torch.device) -> torch.dtype:
    """float32 on CPU; on CUDA bfloat16 where the GPU has it (float32's range, no overflow), else float16."""
    if name != "auto":
        return DTYPES[name]
    if device.type != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _window_tokens(config: ClassifierConfig, tokenizer, model_config) -> int:
    """Content tokens per window: the model's positions (capped at 512) minus its special tokens."""
    positions = getattr(model_config, "max_position_embeddings", None) or MAX_SEQUENCE
    if getattr(model_config, "model_type", "") in PADDING_OFFSET_TYPES and model_config.pad_token_id is not None:
        positions -= model_config.pad_token_id + 1
    limit = tokenizer.model_max_length
    if isinstance(limit, int) and 0 < limit < 100_000:
        positions = min(positions, limit)
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    longest = min(MAX_SEQUENCE, positions) - specials
    window = longest if config.max_tokens is None else config.max_tokens
    if window > longest:
        raise SettingsError(f"LLM_ROUTER_GUARD_MAX_TOKENS={window}: {config.guard.name}'s model takes at most "
                            f"{longest} tokens per window (its positions minus {specials} special tokens)")
    if config.overlap_tokens >= window:
        raise SettingsError(f"LLM_ROUTER_GUARD_OVERLAP_TOKENS={config.overlap_tokens} must be smaller than the "
                            f"window of {window} tokens ({config.guard.name})")
    return window
