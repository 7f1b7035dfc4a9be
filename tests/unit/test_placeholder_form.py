"""The placeholder form ``[ENTITY_N]`` survives what sits between the gateway and a model's eyes:
a chat template (rendered by Jinja, as transformers and vLLM render them) and a byte-level BPE
tokenizer trained here, so a model sees it whole and can copy it back verbatim."""

from __future__ import annotations

import re

import jinja2.sandbox
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

from llm_router_plugins.maskers.session import PLACEHOLDER

CHATML = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}[INST] "
           "{{ message['content'] }} [/INST]{% else %}{{ message['content'] }}{{ eos_token }}{% endif %}{% endfor %}")
MESSAGES = [
    {"role": "system", "content": "Nie zmieniaj znaczników w nawiasach kwadratowych."},
    {"role": "user", "content": "Mój PESEL: [PESEL_1], e-mail [EMAIL_1]. Pan [PHONE_2]-owi (tel. [PHONE_12])!"},
    {"role": "assistant", "content": "Zapisałem [PESEL_1] i „[EMAIL_1]”; przelew na [NRB_1]…"},
]


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    corpus = [m["content"] for m in MESSAGES] + ["Zażółć gęślą jaźń. The quick brown fox.", "[INST] x [/INST]"] * 50
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=512, special_tokens=["<|im_start|>", "<|im_end|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


@pytest.mark.parametrize("template", [CHATML, MISTRAL], ids=["chatml", "mistral"])
def test_chat_templates_and_a_byte_level_tokenizer_keep_placeholders_whole(tokenizer, template):
    environment = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    prompt = environment.from_string(template).render(messages=MESSAGES, add_generation_prompt=True,
                                                       bos_token="<s>", eos_token="</s>")
    expected = [p for m in MESSAGES for p in PLACEHOLDER.findall(m["content"])]
    assert PLACEHOLDER.findall(prompt) == expected
    decoded = tokenizer.decode(tokenizer.encode(prompt).ids, skip_special_tokens=False)
    assert PLACEHOLDER.findall(decoded) == expected


@pytest.mark.parametrize("special", ["[INST]", "[/INST]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[PAD]",
                                     "[TOOL_CALLS]", "[AVAILABLE_TOOLS]", "[IMG]"])
def test_placeholders_never_look_like_a_tokenizers_special_token(special):
    assert not PLACEHOLDER.fullmatch(special)
    assert re.fullmatch(r"\[[A-Z]+_[0-9]+\]", "[PESEL_1]")
