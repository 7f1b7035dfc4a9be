"""The rules: which pattern proposes, which check decides, what context is required, which wins.

A rule's pattern (``patterns.py``) only proposes candidates; its validator (``validators.py``),
match filter and context decide. Priorities settle overlaps (``masker.py``): containers that hide
everything inside them (URL, e-mail, secrets) first, then checksummed numbers (two checksums before
one), then context-confirmed values, then shapes alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from . import patterns as p
from . import validators as v


@dataclass(frozen=True)
class Rule:
    """One detector. ``text[span]`` is a candidate when ``pattern`` matches; it is kept when

    - ``validator`` accepts the value (after ``normalize``) and ``accept`` the match (if given);
    - ``context`` (if given) occurs up to ``before`` chars ahead of it or ``after`` chars behind it,
      and the text between fits ``gap``;
    - ``veto`` (anchored with ``$``) does not match the text just before it, nor ``veto_after``
      (anchored at its end) the text after it.

    Where it looks: with ``anchors`` (lowercase literals), at each anchor (a match starts there) or,
    given a ``reach`` (chars before, after), anywhere in a window around each; else the whole text
    when it has a digit (``digits``); else the whole text when it holds ``gate``.

    ``prefix`` (anchored with ``$``) extends the span leftwards (``PL`` before a NIP); ``groups``
    name the groups holding the value (the first that took part), by default the whole match.
    """

    name: str
    entity: str
    pattern: re.Pattern[str]
    priority: int
    validator: Callable[[str], bool] | None = None
    normalize: Callable[[str], str] | None = None
    accept: Callable[[re.Match[str]], bool] | None = None
    context: re.Pattern[str] | None = None
    before: int = 0
    after: int = 0
    gap: re.Pattern[str] = p.SAME_CLAUSE
    veto: re.Pattern[str] | None = None
    veto_after: re.Pattern[str] | None = None
    prefix: re.Pattern[str] | None = None
    anchors: tuple[str, ...] = ()
    reach: tuple[int, int] = (0, 0)
    digits: bool = True
    gate: str | None = None
    groups: tuple[str, ...] = ()


# --- normalizers and small checks -----------------------------------------------------------------

_NON_ALNUM = re.compile(r"[^0-9A-Za-z]")


def compact(value: str) -> str:
    """The value without separators: what the checksums read."""
    return _NON_ALNUM.sub("", value)


def digits_only(value: str) -> str:
    """Only the digits (drops a ``PL`` prefix, brackets, separators)."""
    return "".join(c for c in value if "0" <= c <= "9")


def phone_digits(value: str) -> str:
    """The 9 national digits: drops a +48/0048 prefix and an old trunk 0 (``(022) ...``)."""
    digits = digits_only(value)
    if len(digits) == 13 and digits.startswith("0048"):
        digits = digits[4:]
    elif len(digits) == 11 and digits.startswith("48"):
        digits = digits[2:]
    return digits[1:] if len(digits) == 10 and digits[0] == "0" else digits


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _grouped_like_phone(m: re.Match[str]) -> bool:
    return p.PHONE_PL_GROUPING.fullmatch(m.group(0)) is not None


def _town_follows(m: re.Match[str]) -> bool:
    return p.TOWN_AFTER.match(m.string, m.end()) is not None


def _not_currency(m: re.Match[str]) -> bool:
    """``EUR 333741`` is an amount even when its digits happen to pass the ID card check (glued,
    ``CHF389000`` reads as a document number)."""
    value = m.group(0)
    return value[:3] not in p.CURRENCY_CODES or value[3].isdigit()


def _secret_assignment(m: re.Match[str]) -> bool:
    """The value is a literal secret: not a placeholder, env lookup or variable; tokens look random."""
    key, value = m.group("k"), m.group("v") or m.group("v2") or m.group("v3")
    if p.NOT_SECRET_KEY.search(key) or p.PLACEHOLDER.search(value) or len(set(value)) < 3 or "(" in value:
        return False
    if m.group("v3") is not None:  # unquoted
        if value.isalpha() and value.islower():
            return False  # "Hasło: minimum 8 znaków": a sentence about the password, not one
        if m.group("op") != ":" and m.group("sp") and p.REFERENCE.fullmatch(value):
            return False  # ``password = get_password`` / ``token = settings.TOKEN``: code naming a variable
    if p.PASSWORD_KEY.search(key):
        return True
    return _has_digit(value) or len(value) >= 16


# --- the rule set ---------------------------------------------------------------------------------

RULES: tuple[Rule, ...] = (
    # Containers first: a URL, e-mail or secret is masked whole, with whatever number sits inside it.
    Rule("url", "URL", p.URL, 110, anchors=("http", "www."), digits=False),
    Rule("email", "EMAIL", p.EMAIL, 105, anchors=("@",), reach=(65, 280), digits=False),
    Rule("private_key", "SECRET", p.PRIVATE_KEY, 102, gate="-----BEGIN", digits=False),
    Rule("jwt", "SECRET", p.JWT, 101, anchors=("eyj",), digits=False),
    Rule("api_key", "SECRET", p.API_KEY, 100, digits=False),
    Rule("bearer_token", "SECRET", p.BEARER, 99, anchors=("bearer",), groups=("v",), digits=False),
    Rule("secret_assignment", "SECRET", p.ASSIGNMENT, 95, accept=_secret_assignment, anchors=p.ASSIGNMENT_ANCHORS,
         groups=("v", "v2", "v3"), digits=False),
    # Checksummed numbers; two checksums (REGON-14) outrank one (a Luhn-only card).
    Rule("nrb", "NRB", p.NRB, 85, validator=v.nrb, normalize=digits_only, prefix=p.PL_PREFIX),
    Rule("iban", "IBAN", p.IBAN, 85, validator=v.iban, normalize=compact),
    Rule("regon14", "REGON", p.DIGIT_RUN, 82, validator=v.regon14),
    Rule("card", "CARD", p.CARD, 80, validator=v.card, normalize=digits_only),
    Rule("pesel", "PESEL", p.DIGIT_RUN, 75, validator=v.pesel),
    Rule("nip", "NIP", p.NIP, 75, validator=v.nip, normalize=digits_only, prefix=p.PL_PREFIX),
    Rule("id_card", "ID_CARD", p.ID_CARD, 75, validator=v.id_card, normalize=compact, accept=_not_currency),
    Rule("passport", "PASSPORT", p.PASSPORT, 75, validator=v.passport, normalize=compact),
    # Confirmed by a prefix or a label: +48 settles a phone; a label next to the number outranks a
    # REGON-9 checksum that passed by chance (1 in 10 random 9-digit numbers do).
    Rule("phone_pl_prefixed", "PHONE", p.PHONE_PL_PREFIXED, 72),
    Rule("krs", "KRS", p.DIGIT_RUN, 70, validator=v.krs, context=p.KRS_LABEL, before=40,
         gap=p.SAME_CLAUSE_OWN_LABEL),
    Rule("phone_pl_labelled", "PHONE", p.PHONE_PL, 68, validator=v.pl_phone_any, normalize=phone_digits,
         context=p.PHONE_LABEL, before=40, gap=p.SAME_CLAUSE_OWN_LABEL, veto=p.MATH_BEFORE,
         veto_after=p.COUNT_OR_MATH_AFTER),
    Rule("regon9", "REGON", p.DIGIT_RUN, 65, validator=v.regon9),
    Rule("birth_date", "BIRTH_DATE", p.DATE, 60, validator=v.date_text, context=p.BIRTH_LABEL, before=50, after=30,
         anchors=p.BIRTH_ANCHORS, reach=(80, 100)),
    Rule("birth_date_month_first", "BIRTH_DATE", p.DATE_MONTH_FIRST, 60, validator=v.date_text,
         context=p.BIRTH_LABEL, before=50, after=30, anchors=p.BIRTH_ANCHORS, reach=(80, 100)),
    # Shapes with a strict form of their own.
    Rule("mac", "MAC", p.MAC, 58, prefix=p.MAC_FIRST_GROUP, validator=_has_digit),
    Rule("ipv4", "IP", p.IPV4, 55, validator=v.ipv4, veto=p.VERSION_BEFORE, veto_after=p.VERSION_AFTER),
    Rule("ipv6", "IP", p.IPV6, 55, validator=v.ipv6, anchors=(":",), reach=(45, 45)),
    Rule("phone_intl", "PHONE", p.PHONE_INTL, 54, validator=v.e164, normalize=digits_only, veto=p.INTL_MATH_BEFORE,
         veto_after=p.COUNT_OR_MATH_AFTER),
    Rule("money", "MONEY", p.MONEY, 52),
    Rule("money_prefixed", "MONEY", p.MONEY_PREFIXED, 52),
    # Shapes alone: grouped like a Polish phone number, a bare mobile number, a VIN, a postal code.
    Rule("phone_pl", "PHONE", p.PHONE_PL, 50, validator=v.pl_phone, normalize=phone_digits,
         accept=_grouped_like_phone, veto=p.MATH_OR_ORDER_BEFORE, veto_after=p.COUNT_OR_MATH_AFTER),
    Rule("phone_pl_bare", "PHONE", p.DIGIT_RUN, 45, validator=v.pl_mobile, veto=p.MATH_OR_ORDER_BEFORE,
         veto_after=p.COUNT_OR_MATH_AFTER),
    Rule("vin", "VIN", p.VIN, 40, validator=v.vin),
    Rule("postal_code", "POSTAL_CODE", p.POSTAL, 35, accept=_town_follows),
    Rule("postal_code_labelled", "POSTAL_CODE", p.POSTAL, 34, context=p.ADDRESS_LABEL, before=50,
         gap=p.ADDRESS_GAP),
)

RULES_BY_NAME: dict[str, Rule] = {rule.name: rule for rule in RULES}
