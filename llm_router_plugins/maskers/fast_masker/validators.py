"""Pure checks of identifier values: checksums and dates, no patterns and no context.

Kept apart from the patterns so each can be tested alone, and so a rule's regex may stay loose
(it only proposes a candidate) while these functions decide. Every function takes the compact
value (separators already removed by the caller) and returns a bool; none raises on bad input.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress as _ip
import re as _re

_LETTER_VALUES = {chr(c): c - 55 for c in range(ord("A"), ord("Z") + 1)}  # A=10 ... Z=35
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_REGON9_WEIGHTS = (8, 9, 2, 3, 4, 5, 6, 7)
_REGON14_WEIGHTS = (2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8)
_ID_CARD_WEIGHTS = (7, 3, 1, 9, 7, 3, 1, 7, 3)  # the check digit (4th char) carries weight 9: sum ≡ 0 mod 10
_PASSPORT_WEIGHTS = (7, 3, 9, 1, 7, 3, 1, 7, 3)  # the check digit (3rd char) carries weight 9
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_VIN_VALUES = {**{str(d): d for d in range(10)},
               **dict(zip("ABCDEFGH", range(1, 9))), **dict(zip("JKLMN", range(1, 6))), "P": 7, "R": 9,
               **dict(zip("STUVWXYZ", range(2, 10)))}
_VIN_CHARS = frozenset("ABCDEFGHJKLMNPRSTUVWXYZ0123456789")

# IBAN length per country (ISO 13616 registry); PL is here too, though PL accounts are the NRB rule's.
IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}

# Card issuer prefixes (IIN ranges) and the lengths each scheme issues; a Luhn-valid number outside
# these is far more likely an order or tracking number than a card.
_CARD_SCHEMES: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),                    # Visa
    (51, 55, frozenset({16})), (2221, 2720, frozenset({16})),  # Mastercard
    (34, 34, frozenset({15})), (37, 37, frozenset({15})),  # American Express
    (6011, 6011, frozenset(range(16, 20))), (644, 649, frozenset(range(16, 20))),
    (65, 65, frozenset(range(16, 20))),                 # Discover
    (3528, 3589, frozenset(range(16, 20))),             # JCB
    (300, 305, frozenset(range(14, 20))), (36, 36, frozenset(range(14, 20))),
    (38, 39, frozenset(range(14, 20))),                 # Diners Club
    (62, 62, frozenset(range(16, 20))),                 # UnionPay
    (2200, 2204, frozenset(range(16, 20))),             # Mir
    (50, 50, frozenset(range(13, 20))), (56, 69, frozenset(range(13, 20))),  # Maestro
)


def is_date(year: int, month: int, day: int) -> bool:
    """True when the three numbers make a real calendar day (leap years included)."""
    try:
        _dt.date(year, month, day)
    except ValueError:
        return False
    return True


def pesel_birth_date(value: str) -> _dt.date | None:
    """The birth date a PESEL encodes (the century is in the month: +80 1800s, +20 2000s, ...)."""
    if len(value) != 11 or not value.isascii() or not value.isdigit():
        return None
    yy, mm, dd = int(value[0:2]), int(value[2:4]), int(value[4:6])
    century, month = divmod(mm, 20)
    base = {4: 1800, 0: 1900, 1: 2000, 2: 2100, 3: 2200}.get(century)
    if base is None or not is_date(base + yy, month, dd):
        return None
    return _dt.date(base + yy, month, dd)


def pesel(value: str) -> bool:
    """11 digits, weighted checksum, and a real birth date."""
    if pesel_birth_date(value) is None:
        return False
    total = sum(w * int(c) for w, c in zip(_PESEL_WEIGHTS, value))
    return (10 - total % 10) % 10 == int(value[10])


def nip(value: str) -> bool:
    """10 digits, mod 11 checksum (a remainder of 10 is never issued); tax office codes never start with 0."""
    if len(value) != 10 or not value.isascii() or not value.isdigit() or value[0] == "0":
        return False
    check = sum(w * int(c) for w, c in zip(_NIP_WEIGHTS, value)) % 11
    return check != 10 and check == int(value[9])


def regon9(value: str) -> bool:
    """9-digit REGON: mod 11 checksum, remainder 10 counts as 0."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return False
    return sum(w * int(c) for w, c in zip(_REGON9_WEIGHTS, value)) % 11 % 10 == int(value[8])


def regon14(value: str) -> bool:
    """14-digit REGON (a local unit): its own checksum, and its first 9 digits are the parent's REGON."""
    if len(value) != 14 or not value.isascii() or not value.isdigit() or not regon9(value[:9]):
        return False
    return sum(w * int(c) for w, c in zip(_REGON14_WEIGHTS, value)) % 11 % 10 == int(value[13])


def krs(value: str) -> bool:
    """10 digits. The KRS number has no checksum: only the "KRS" label next to it makes it one."""
    return len(value) == 10 and value.isascii() and value.isdigit()


def _weighted_alnum(value: str, weights: tuple[int, ...]) -> bool:
    try:
        total = sum(w * (_LETTER_VALUES[c] if c.isalpha() else int(c)) for w, c in zip(weights, value))
    except (KeyError, ValueError):
        return False
    return total % 10 == 0


def id_card(value: str) -> bool:
    """Polish identity card (dowód osobisty): 3 letters + 6 digits, the first digit checks the rest."""
    if len(value) != 9 or not (value[:3].isascii() and value[:3].isalpha() and value[:3].isupper()):
        return False
    return value[3:].isascii() and value[3:].isdigit() and _weighted_alnum(value, _ID_CARD_WEIGHTS)


def passport(value: str) -> bool:
    """Polish passport: 2 letters + 7 digits, the first digit checks the rest."""
    if len(value) != 9 or not (value[:2].isascii() and value[:2].isalpha() and value[:2].isupper()):
        return False
    return value[2:].isascii() and value[2:].isdigit() and _weighted_alnum(value, _PASSPORT_WEIGHTS)


def _mod97(text: str) -> int:
    """Remainder mod 97 of an alphanumeric string with letters as A=10 ... Z=35 (ISO 7064 MOD 97-10)."""
    remainder = 0
    for c in text:
        v = _LETTER_VALUES.get(c)
        if v is None:
            remainder = (remainder * 10 + int(c)) % 97
        else:
            remainder = (remainder * 100 + v) % 97
    return remainder


def iban(value: str) -> bool:
    """Any IBAN: known country, that country's length, check digits by mod 97 == 1."""
    country = value[:2]
    if IBAN_LENGTHS.get(country) != len(value) or not value[2:4].isdigit():
        return False
    if not (value.isascii() and value.isalnum() and value.upper() == value):
        return False
    return _mod97(value[4:] + value[:4]) == 1


def nrb(value: str) -> bool:
    """Polish account number (NRB): 26 digits, valid as the IBAN ``PL`` + those digits."""
    return len(value) == 26 and value.isascii() and value.isdigit() and iban("PL" + value)


def luhn(value: str) -> bool:
    """Luhn (mod 10) checksum over a digit string."""
    if not value or not value.isascii() or not value.isdigit():
        return False
    total = 0
    for i, c in enumerate(reversed(value)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_prefix(value: str) -> bool:
    """The number starts with a known issuer prefix and has a length that scheme issues."""
    for low, high, lengths in _CARD_SCHEMES:
        width = len(str(low))
        if len(value) in lengths and low <= int(value[:width]) <= high:
            return True
    return False


def card(value: str) -> bool:
    """Payment card number: 13-19 digits, plausible issuer prefix, Luhn."""
    return 13 <= len(value) <= 19 and luhn(value) and card_prefix(value)


def vin_check_digit(value: str) -> bool:
    """The North-American check digit (9th char, ``X`` for 10); European VINs need not have one."""
    if len(value) != 17 or any(c not in _VIN_CHARS for c in value):
        return False
    remainder = sum(w * _VIN_VALUES[c] for w, c in zip(_VIN_WEIGHTS, value)) % 11
    return value[8] == ("X" if remainder == 10 else str(remainder))


def vin(value: str) -> bool:
    """VIN structure (ISO 3779): 17 chars without I, O, Q; letters and digits mixed; last 4 numeric.

    The check digit is not required (only North America uses it), so the structure carries the
    decision: a 17-digit run or a 17-letter word is not a VIN.
    """
    if len(value) != 17 or any(c not in _VIN_CHARS for c in value):
        return False
    letters = sum(c.isalpha() for c in value)
    return letters >= 2 and value[-4:].isdigit() and sum(c.isdigit() for c in value) >= 5


_MONTH_NUMBERS = {
    **{name: i for i, name in enumerate(("stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca",
                                         "sierpnia", "września", "października", "listopada", "grudnia"), 1)},
    "wrzesnia": 9, "pazdziernika": 10,
    **{name: i for i, name in enumerate(("january", "february", "march", "april", "may", "june", "july", "august",
                                         "september", "october", "november", "december"), 1)},
    **{name: i for i, name in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                                         "nov", "dec"), 1)},
    "sept": 9,
    **{name: i for i, name in enumerate(("i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"), 1)},
}
_DATE_PARTS = _re.compile(r"[0-9]+|[^\W\d_]+")


def date_text(value: str) -> bool:
    """A written date that is a real day: ``12.03.1985``, ``03/12/1985``, ``1985-03-12``, ``12 marca 1985``.

    Numeric day-month order is ambiguous (Polish dd.mm, US mm/dd), so either valid reading passes;
    two-digit years may be 19xx or 20xx. Years outside 1850-2100 are not birth dates.
    """
    parts = _DATE_PARTS.findall(value.lower())
    numbers = [int(p) for p in parts if p.isdigit()]
    words = [p for p in parts if not p.isdigit() and p not in ("st", "nd", "rd", "th", "of", "r")]
    if words:
        if len(words) != 1 or len(numbers) != 2 or words[0] not in _MONTH_NUMBERS:
            return False
        month = _MONTH_NUMBERS[words[0]]
        day, year = (numbers[0], numbers[1]) if numbers[1] > 31 else (numbers[1], numbers[0])
        return 1850 <= year <= 2100 and is_date(year, month, day)
    digits = [p for p in parts if p.isdigit()]
    if len(digits) != 3:
        return False
    if len(digits[0]) == 4:
        year, month, day = numbers
        return 1850 <= year <= 2100 and is_date(year, month, day)
    a, b, year = numbers
    years = (1900 + year, 2000 + year) if len(digits[2]) == 2 else (year,)
    return any(1850 <= y <= 2100 and (is_date(y, b, a) or is_date(y, a, b)) for y in years)


# Polish numbering plan: area codes of fixed lines, and the prefixes of mobile numbers.
AREA_CODES = frozenset("12 13 14 15 16 17 18 22 23 24 25 29 32 33 34 41 42 43 44 46 48 52 54 55 56 58 59 61 62 "
                       "63 65 67 68 71 74 75 76 77 81 82 83 84 85 86 87 89 91 94 95".split())
MOBILE_PREFIXES = frozenset("45 50 51 53 57 60 66 69 72 73 78 79 88".split())


def pl_mobile(value: str) -> bool:
    """Nine national digits of a Polish mobile number."""
    return len(value) == 9 and value[:2] in MOBILE_PREFIXES


def pl_phone(value: str) -> bool:
    """Nine national digits of a Polish mobile or fixed-line number."""
    return len(value) == 9 and (value[:2] in MOBILE_PREFIXES or value[:2] in AREA_CODES)


def pl_phone_any(value: str) -> bool:
    """Nine national digits not starting with 0 (a label already says it is a phone)."""
    return len(value) == 9 and value[0] != "0"


def e164(value: str) -> bool:
    """Digits of an international number, country code included: 8 to 15 (ITU E.164)."""
    return 8 <= len(value) <= 15 and value[0] != "0"


def ipv4(value: str) -> bool:
    """Four dotted numbers, each 0-255."""
    parts = value.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts)


def ipv6(value: str) -> bool:
    """A real IPv6 address holding a digit; a compressed one needs 3+ groups (``a1::b2`` is C++, not an address)."""
    if not any(c.isdigit() for c in value) or (value.endswith(":") and not value.endswith("::")):
        return False
    try:
        _ip.IPv6Address(value)
    except ValueError:
        return False
    return "::" not in value or sum(1 for g in value.split(":") if g) >= 3
