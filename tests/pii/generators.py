"""Seeded generators of identifiers (valid and broken) and of labelled synthetic texts.

The check digits here are computed from the published algorithms, written separately from
``llm_router_plugins/maskers/fast_masker/validators.py`` (nothing is imported from it), so a
test that the masker finds what these make checks one implementation against another.

Every generator takes a ``random.Random``; the same seed gives the same output. A labelled text is
``(text, [(start, end, entity), ...])`` with the span of every identifier put into it.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import random
import string
from collections.abc import Callable, Iterator

Span = tuple[int, int, str]
Labelled = tuple[str, list[Span]]

DIGITS = string.digits
UPPER = string.ascii_uppercase
ALNUM = string.ascii_letters + string.digits


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(DIGITS) for _ in range(n))


def _letter_value(c: str) -> int:
    return ord(c) - ord("A") + 10 if c.isalpha() else int(c)


def _other_digit(rng: random.Random, d: str) -> str:
    return rng.choice([c for c in DIGITS if c != d])


# --- Polish identifiers ---------------------------------------------------------------------------

def pesel(rng: random.Random, born: dt.date | None = None) -> str:
    if born is None:
        born = dt.date(1930, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 92))
        if rng.random() < 0.03:
            born = dt.date(rng.randrange(1880, 1900), rng.randrange(1, 13), rng.randrange(1, 29))
    offset = {18: 80, 19: 0, 20: 20, 21: 40, 22: 60}[born.year // 100]
    body = f"{born.year % 100:02d}{born.month + offset:02d}{born.day:02d}{_digits(rng, 4)}"
    weights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    check = (10 - sum(w * int(c) for w, c in zip(weights, body)) % 10) % 10
    return body + str(check)


def nip(rng: random.Random) -> str:
    weights = [6, 5, 7, 2, 3, 4, 5, 6, 7]
    while True:
        body = str(rng.randrange(101, 1000)) + _digits(rng, 6)
        check = sum(w * int(c) for w, c in zip(weights, body)) % 11
        if check < 10:
            return body + str(check)


def nip_formatted(rng: random.Random, value: str | None = None) -> str:
    value = value or nip(rng)
    style = rng.randrange(5)
    if style == 1:
        return f"{value[:3]}-{value[3:6]}-{value[6:8]}-{value[8:]}"
    if style == 2:
        return f"{value[:3]}-{value[3:5]}-{value[5:7]}-{value[7:]}"
    if style == 3:
        return "PL" + value
    return value


def regon9(rng: random.Random) -> str:
    body = _digits(rng, 8)
    return body + str(sum(w * int(c) for w, c in zip([8, 9, 2, 3, 4, 5, 6, 7], body)) % 11 % 10)


def regon14(rng: random.Random) -> str:
    body = regon9(rng) + _digits(rng, 4)
    weights = [2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8]
    return body + str(sum(w * int(c) for w, c in zip(weights, body)) % 11 % 10)


def krs(rng: random.Random) -> str:
    return "0000" + _digits(rng, 6)


def _letters_check_digits(rng: random.Random, n_letters: int) -> str:
    """Polish ID card (3 letters) and passport (2 letters): letters, check digit, digits to 9 characters."""
    letters = "".join(rng.choice(UPPER) for _ in range(n_letters))
    tail = _digits(rng, 8 - n_letters)
    weights = [7, 3, 1, 7, 3, 1, 7, 3]
    total = sum(w * _letter_value(c) for w, c in zip(weights, letters + tail))
    return f"{letters}{total % 10}{tail}"


def id_card(rng: random.Random) -> str:
    return _letters_check_digits(rng, 3)


def passport(rng: random.Random) -> str:
    return _letters_check_digits(rng, 2)


def _iban_check(country: str, bban: str) -> str:
    rearranged = "".join(str(_letter_value(c)) for c in bban + country) + "00"
    return f"{98 - int(rearranged) % 97:02d}"


def nrb(rng: random.Random) -> str:
    bban = _digits(rng, 24)
    return _iban_check("PL", bban) + bban


def nrb_formatted(rng: random.Random, value: str | None = None) -> str:
    value = value or nrb(rng)
    grouped = value[:2] + " " + " ".join(value[i:i + 4] for i in range(2, 26, 4))
    return rng.choice([value, grouped, grouped, "PL" + grouped, "PL" + value])


# BBAN layouts: 'n' digit, 'a' upper letter, 'c' upper letter or digit.
IBAN_LAYOUTS = {
    "DE": "n" * 18, "GB": "aaaa" + "n" * 14, "FR": "n" * 10 + "c" * 11 + "nn", "ES": "n" * 20,
    "IT": "a" + "n" * 10 + "c" * 12, "NL": "aaaa" + "n" * 10, "CH": "n" * 5 + "c" * 12, "AT": "n" * 16,
    "BE": "n" * 12, "CZ": "n" * 20, "SE": "n" * 20, "NO": "n" * 11, "IE": "aaaa" + "n" * 14,
    "LT": "n" * 16, "SK": "n" * 20, "PT": "n" * 21, "DK": "n" * 14, "FI": "n" * 14, "HU": "n" * 24,
    "UA": "n" * 6 + "c" * 19,
}


def iban(rng: random.Random, country: str | None = None) -> str:
    country = country or rng.choice(sorted(IBAN_LAYOUTS))
    pools = {"n": DIGITS, "a": UPPER, "c": UPPER + DIGITS}
    bban = "".join(rng.choice(pools[k]) for k in IBAN_LAYOUTS[country])
    return country + _iban_check(country, bban) + bban


def iban_formatted(rng: random.Random, value: str | None = None) -> str:
    value = value or iban(rng)
    return rng.choice([value, " ".join(value[i:i + 4] for i in range(0, len(value), 4))])


def _luhn_digit(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        d = int(c)
        if i % 2 == 0:  # doubled: the check digit will sit to the right
            d *= 2
            d = d - 9 if d > 9 else d
        total += d
    return str((10 - total % 10) % 10)


CARD_SCHEMES = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
                ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("62", 16), ("4", 19)]


def card(rng: random.Random) -> str:
    prefix, length = rng.choice(CARD_SCHEMES)
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return body + _luhn_digit(body)


def card_formatted(rng: random.Random, value: str | None = None) -> str:
    value = value or card(rng)
    sep = rng.choice([" ", " ", "-", ""])
    if not sep:
        return value
    if len(value) == 15:
        return sep.join([value[:4], value[4:10], value[10:]])
    if len(value) == 14:
        return sep.join([value[:4], value[4:10], value[10:]])
    if len(value) in (16, 19):
        return sep.join(value[i:i + 4] for i in range(0, len(value), 4))
    return value


_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
_VIN_VALUES = {**{str(d): d for d in range(10)}, **dict(zip("ABCDEFGH", range(1, 9))),
               **dict(zip("JKLMN", range(1, 6))), "P": 7, "R": 9, **dict(zip("STUVWXYZ", range(2, 10)))}
WMIS = ["WVW", "WBA", "WDB", "VF1", "VF3", "SAL", "TMB", "ZFA", "YV1", "WAU", "1HG", "JHM", "2T1", "SUP", "U5Y"]


def vin(rng: random.Random) -> str:
    wmi = rng.choice(WMIS)
    vds = "".join(rng.choice(_VIN_CHARS) for _ in range(5))
    year_plant = rng.choice("ABCDEFGHJKLMNPRSTVWXY123456789") + rng.choice(_VIN_CHARS)
    serial = rng.choice(_VIN_CHARS) + _digits(rng, 5)
    draft = wmi + vds + "0" + year_plant + serial
    weights = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
    if wmi[0] in "12345" or rng.random() < 0.5:  # North America uses the check digit; Europe may
        r = sum(w * _VIN_VALUES[c] for w, c in zip(weights, draft)) % 11
        check = "X" if r == 10 else str(r)
    else:
        check = rng.choice(_VIN_CHARS)
    return draft[:8] + check + draft[9:]


# --- contact data ---------------------------------------------------------------------------------

FIRST = ["jan", "anna", "piotr", "katarzyna", "tomasz", "agnieszka", "michal", "magdalena", "john", "mary",
         "pawel", "ewa", "krzysztof", "zofia", "james", "emma", "lukasz", "joanna"]
LAST = ["kowalski", "nowak", "wisniewska", "wojcik", "kaminski", "lewandowska", "zielinski", "smith", "brown",
        "szymanska", "wozniak", "dabrowski", "kozlowska", "jankowski", "mazur", "taylor"]
DOMAINS = ["example.pl", "firma.com.pl", "poczta.onet.pl", "gmail.com", "wp.pl", "example.com", "uni.wroc.pl",
           "o2.pl", "company.co.uk", "mail.example.org"]


def email(rng: random.Random) -> str:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    local = rng.choice([f"{first}.{last}", f"{first[0]}.{last}", f"{first}{rng.randrange(1, 99)}",
                        f"{first}_{last}", f"{last}+{rng.choice(['news', 'faktury'])}"])
    return f"{local}@{rng.choice(DOMAINS)}"


def url(rng: random.Random) -> str:
    host = rng.choice(["example.com", "firma.pl", "sklep.example.pl", "docs.example.org", "intranet.corp.pl"])
    path = rng.choice(["", "/", "/kontakt", "/users/" + _digits(rng, 5), "/faktura?id=" + _digits(rng, 6),
                       "/a/b/c.html", "/search?q=umowa&page=2"])
    return rng.choice(["https://", "http://", "www."]) + host + path


def ipv4(rng: random.Random) -> str:
    return ".".join(str(x) for x in [rng.randrange(1, 224), rng.randrange(256), rng.randrange(256),
                                      rng.randrange(1, 255)])


def ipv6(rng: random.Random) -> str:
    groups = [rng.randrange(0x10000) for _ in range(8)]
    groups[0] = rng.choice([0x2001, 0x2a02, 0xfd12, 0x2600])
    if rng.random() < 0.5:
        groups[3:6] = [0, 0, 0]
    address = ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))
    text = rng.choice([address.compressed, address.exploded])
    if not any(c.isdigit() for c in text):
        return address.exploded
    return text


def mac(rng: random.Random) -> str:
    octets = [rng.randrange(256) for _ in range(6)]
    octets[0] = 0x00 if rng.random() < 0.5 else octets[0]
    text = rng.choice([":", "-"]).join(f"{o:02X}" for o in octets)
    return text.lower() if rng.random() < 0.3 else text


MOBILE = ["45", "50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"]
AREA = ["12", "22", "32", "42", "52", "58", "61", "71", "81", "91", "85", "89"]


def phone(rng: random.Random, bare: bool = True) -> str:
    kind = rng.random()
    if kind < 0.6:
        n = rng.choice(MOBILE) + _digits(rng, 7)
        forms = [f"{n[:3]} {n[3:6]} {n[6:]}", f"{n[:3]}-{n[3:6]}-{n[6:]}", f"+48 {n[:3]} {n[3:6]} {n[6:]}",
                 f"+48{n}", f"0048 {n[:3]} {n[3:6]} {n[6:]}", f"(+48) {n[:3]} {n[3:6]} {n[6:]}",
                 f"+48 {n}", f"+48-{n[:3]}-{n[3:6]}-{n[6:]}"]
        if bare:
            forms.append(n)
        return rng.choice(forms)
    if kind < 0.85:
        area, n = rng.choice(AREA), _digits(rng, 7)
        n = str(rng.randrange(2, 10)) + n[1:]
        return rng.choice([f"{area} {n[:3]} {n[3:5]} {n[5:]}", f"({area}) {n[:3]} {n[3:5]} {n[5:]}",
                           f"+48 {area} {n[:3]} {n[3:5]} {n[5:]}", f"{area} {n[:3]}-{n[3:5]}-{n[5:]}",
                           f"(0{area}) {n[:3]}-{n[3:5]}-{n[5:]}"])
    return rng.choice([f"+44 20 {_digits(rng, 4)} {_digits(rng, 4)}", f"+1 {rng.randrange(201, 990)} "
                       f"{rng.randrange(200, 999)} {_digits(rng, 4)}", f"+49 30 {_digits(rng, 8)}",
                       f"+420 {rng.choice(['601', '777', '731'])} {_digits(rng, 3)} {_digits(rng, 3)}",
                       f"+33 6 {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)} {_digits(rng, 2)}",
                       f"+380 44 {_digits(rng, 3)} {_digits(rng, 4)}"])


PL_MONTHS = ["stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "września",
             "października", "listopada", "grudnia"]
EN_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
             "November", "December"]


def birth_day(rng: random.Random) -> dt.date:
    return dt.date(1935, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 85))


def date_text(rng: random.Random, day: dt.date | None = None, english: bool | None = None) -> str:
    d = day or birth_day(rng)
    english = rng.random() < 0.4 if english is None else english
    if english:
        return rng.choice([f"{d.day} {EN_MONTHS[d.month - 1]} {d.year}", f"{EN_MONTHS[d.month - 1]} {d.day}, {d.year}",
                           f"{d:%Y-%m-%d}", f"{d:%d/%m/%Y}", f"{d:%m/%d/%Y}"])
    return rng.choice([f"{d:%d.%m.%Y}", f"{d:%d-%m-%Y}", f"{d:%Y-%m-%d}", f"{d.day} {PL_MONTHS[d.month - 1]} {d.year}",
                       f"{d.day}.{d.month:02d}.{d.year}"])


def money(rng: random.Random, english: bool | None = None) -> str:
    english = rng.random() < 0.4 if english is None else english
    amount = rng.choice([rng.randrange(5, 100), rng.randrange(100, 10000), rng.randrange(10000, 500000)])
    grosze = rng.randrange(100)
    if english:
        with_commas = f"{amount:,}"
        return rng.choice([f"${with_commas}", f"€{with_commas}.{grosze:02d}", f"{amount} USD", f"EUR {amount}",
                           f"£{with_commas}", f"{with_commas} EUR", f"USD {with_commas}.{grosze:02d}"])
    spaced = f"{amount:,}".replace(",", " ")
    dotted = f"{amount:,}".replace(",", ".")
    return rng.choice([f"{amount} zł", f"{amount} zl", f"{spaced},{grosze:02d} PLN", f"{dotted},{grosze:02d} zł",
                       f"{rng.randrange(2, 90)} tys. zł", f"{amount} złotych", f"{spaced} zł", f"{amount} PLN",
                       f"{rng.randrange(1, 9)},{rng.randrange(1, 9)} mln zł", f"{amount}zł",
                       f"{rng.randrange(1, 99)} gr"])


TOWNS = ["Warszawa", "Kraków", "Gdańsk", "Wrocław", "Poznań", "Łódź", "Lublin", "Szczecin", "Katowice", "Białystok",
         "Rzeszów", "Olsztyn", "Opole", "Kielce", "Toruń"]
STREETS = ["Długa", "Krótka", "Mickiewicza", "Słowackiego", "Kościuszki", "Polna", "Leśna", "Ogrodowa",
           "Piłsudskiego", "Żeromskiego"]


def postal_code(rng: random.Random) -> str:
    return f"{rng.randrange(100):02d}-{rng.randrange(1000):03d}"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(rng: random.Random) -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = _b64url(json.dumps({"sub": _digits(rng, 8), "name": rng.choice(FIRST), "iat": 1700000000
                                  + rng.randrange(10**7)}).encode())
    return f"{header}.{payload}.{_b64url(rng.randbytes(32))}"


def _rand(rng: random.Random, n: int, pool: str = ALNUM) -> str:
    return "".join(rng.choice(pool) for _ in range(n))


def api_key(rng: random.Random) -> str:
    return rng.choice([
        lambda: "sk-" + _rand(rng, 48), lambda: "sk-proj-" + _rand(rng, 40, ALNUM + "_-"),
        lambda: "sk-ant-api03-" + _rand(rng, 60, ALNUM + "_-"), lambda: "ghp_" + _rand(rng, 36),
        lambda: "github_pat_" + _rand(rng, 22) + "_" + _rand(rng, 59), lambda: "AKIA" + _rand(rng, 16, UPPER + DIGITS),
        lambda: "xoxb-" + _digits(rng, 11) + "-" + _digits(rng, 12) + "-" + _rand(rng, 24),
        lambda: "AIza" + _rand(rng, 35, ALNUM + "_-"), lambda: jwt(rng),
    ])()


def password(rng: random.Random) -> str:
    word = rng.choice(["Zima", "Lato", "Kot", "Summer", "Dragon", "Haslo", "Tajne", "Monkey", "Wiosna"])
    return word + str(rng.randrange(1, 3000)) + rng.choice(["!", "#", "@", "$", "", "x", "_ok"])


# --- broken values: same shape, wrong check ------------------------------------------------------

def broken(rng: random.Random, entity: str, value: str) -> str:
    """The value with its check digit changed, so it fails the checksum (and only that)."""
    if entity in ("PESEL", "NIP", "REGON", "CARD"):
        return value[:-1] + _other_digit(rng, value[-1])
    if entity == "ID_CARD":
        return value[:3] + _other_digit(rng, value[3]) + value[4:]
    if entity == "PASSPORT":
        return value[:2] + _other_digit(rng, value[2]) + value[3:]
    if entity == "NRB":
        return value[:-1] + _other_digit(rng, value[-1])
    if entity == "IBAN":
        return value[:2] + value[2] + _other_digit(rng, value[3]) + value[4:]
    raise ValueError(entity)


VALID: dict[str, Callable[[random.Random], str]] = {
    "PESEL": pesel, "NIP": nip, "REGON": lambda rng: regon9(rng) if rng.random() < 0.6 else regon14(rng),
    "ID_CARD": id_card, "PASSPORT": passport, "NRB": nrb, "IBAN": iban, "CARD": card,
}


# --- labelled texts -------------------------------------------------------------------------------

class Builder:
    """Text assembled piece by piece, remembering where each identifier went."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.spans: list[Span] = []

    def add(self, text: str) -> Builder:
        self.parts.append(text)
        self.size += len(text)
        return self

    def value(self, entity: str, text: str) -> Builder:
        self.spans.append((self.size, self.size + len(text), entity))
        return self.add(text)

    def build(self) -> Labelled:
        return "".join(self.parts), list(self.spans)


def _slot_values(rng: random.Random) -> dict[str, Callable[[], tuple[str, str]]]:
    """Slot name -> a maker of (entity, text) for one fresh value."""
    return {
        "PESEL": lambda: ("PESEL", pesel(rng)),
        "NIP": lambda: ("NIP", nip_formatted(rng)),
        "REGON": lambda: ("REGON", regon9(rng) if rng.random() < 0.6 else regon14(rng)),
        "KRS": lambda: ("KRS", krs(rng)),
        "ID_CARD": lambda: ("ID_CARD", (lambda v: v if rng.random() < 0.8 else v[:3] + " " + v[3:])(id_card(rng))),
        "PASSPORT": lambda: ("PASSPORT", passport(rng)),
        "NRB": lambda: ("NRB", nrb_formatted(rng)),
        "IBAN": lambda: ("IBAN", iban_formatted(rng)),
        "CARD": lambda: ("CARD", card_formatted(rng)),
        "VIN": lambda: ("VIN", vin(rng)),
        "EMAIL": lambda: ("EMAIL", email(rng)),
        "URL": lambda: ("URL", url(rng)),
        "IP": lambda: ("IP", ipv4(rng) if rng.random() < 0.7 else ipv6(rng)),
        "MAC": lambda: ("MAC", mac(rng)),
        "PHONE": lambda: ("PHONE", phone(rng)),
        "PHONE_GROUPED": lambda: ("PHONE", phone(rng, bare=False)),
        "BIRTH_DATE": lambda: ("BIRTH_DATE", date_text(rng, english=False)),
        "BIRTH_DATE_EN": lambda: ("BIRTH_DATE", date_text(rng, english=True)),
        "MONEY": lambda: ("MONEY", money(rng, english=False)),
        "MONEY_EN": lambda: ("MONEY", money(rng, english=True)),
        "POSTAL_CODE": lambda: ("POSTAL_CODE", postal_code(rng)),
        "API_KEY": lambda: ("SECRET", api_key(rng)),
        "PASSWORD": lambda: ("SECRET", password(rng)),
        "TOKEN": lambda: ("SECRET", _rand(rng, rng.randrange(24, 40))),
    }


def _fill(rng: random.Random, template: str, b: Builder) -> None:
    """Append ``template`` with its ``{SLOT}`` and ``{word}`` fields filled in."""
    slots = _slot_values(rng)
    pieces = template.split("{")
    b.add(pieces[0])
    for piece in pieces[1:]:
        name, rest = piece.split("}", 1)
        if name in slots:
            entity, text = slots[name]()
            b.value(entity, text)
        else:
            b.add(rng.choice(WORDS[name]))
        b.add(rest)


WORDS = {
    "name": ["Jan Kowalski", "Anna Nowak", "Piotr Wiśniewski", "Katarzyna Wójcik", "Łukasz Żak", "Zofia Ćwik",
             "John Smith", "Mary Brown", "Ewa Dąbrowska"],
    "town": TOWNS, "street": STREETS, "n": [str(i) for i in range(1, 120)],
    "firm": ["ABC Sp. z o.o.", "Kowalski i Syn S.A.", "Acme Ltd", "Zielony Ogród s.c.", "Softpol S.A."],
}

# Hard negatives that look a little like identifiers: put into labelled texts between the values,
# and the whole of the PII-free corpus. None of them is personal data.
NEGATIVES_PL = [
    "W roku 2024 sprzedaż wzrosła o 12%.", "Spotkanie mamy o 12:30, potem o 14:45.", "Na sali były 3 osoby.",
    "Na zewnątrz jest 25 stopni.", "Zainstaluj wersję 1.2.3.4 z repozytorium.", "rok 2024 był dobry",
    "Aktualizacja do wersji 10.0.19045.3803 poprawiła błąd.", "Raport za 2023 rok jest gotowy.",
    "Termin oddania projektu to 2024-06-30.", "Zamówienie nr {order} zostało wysłane.", "Mamy {count} zgłoszeń.",
    "Mecz skończył się wynikiem 3:1.", "Wzrost wyniósł 4,5 % rok do roku.", "Przeczytaj rozdział 3.2.1.",
    "Faktura FV/2024/03/{small} czeka na akceptację.", "Proces trwał 45 minut i zużył 2,5 GB pamięci.",
    "Obraz ma rozdzielczość 1920x1080.", "Spotkanie przeniesiono na 15.05.2024.", "Ticket #{small} zamknięty.",
    "Odległość to około 120 km.", "W 2019 i 2020 roku nie było podwyżek.", "Serwer odpowiada średnio w 230 ms.",
    "Użyj pip install requests==2.31.0 w środowisku.", "Paczka waży 15 kg.", "Wynik testu to 87/100 punktów.",
    "Strony 12-34 zawierają wstęp.", "Kurs trwa od 2021-2023.", "Polska ma około 38 411 148 mieszkańców.",
    "Wzór: 123 * 456 = 56088.", "Liczba zamówień w tym kwartale: {count}.", "Jutro o 9:15 stand-up.",
    "Usługa ma kod PKWiU 62.01.11.0.", "Identyfikator żądania: 123e4567-e89b-12d3-a456-426614174000.",
    "Log: 2024-05-12T10:30:45Z start, 2024-05-12 10:31:02,117 stop.", "Współrzędne: 52.2297, 21.0122.",
    "Hasło: minimum 8 znaków, w tym cyfra.", "Kolor tła #FF5733, proporcje 16:9.", "Dyżur 10:00-12:00.",
    "Zakres wartości: 100 200 300.", "W Polsce żyje 37 636 508 osób.", "Kod produktu SKU-48213.",
    "Commit 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b naprawia błąd.", "Temperatura spadła do -5°C.",
    "Token: opcjonalny, domyślnie pusty.", "Wersja v2.7.1 i Python 3.11.7 działają.", "Zestaw 3, 14, 15, 92, 65.",
]
NEGATIVES_EN = [
    "Revenue for 2024 grew by 7%.", "The call is at 12:30 and lasts 45 minutes.", "We invited 3 people.",
    "It is 25 degrees outside.", "Upgrade to version 1.2.3.4 before Friday.", "for 2024 we plan a release",
    "Chrome 120.0.6099.109 fixes the bug.", "The deadline is 2024-06-30.", "Order #{order} has shipped.",
    "We closed {count} tickets last week.", "Conversion improved by 4.5 percent.", "See section 2.3.1.4 below.",
    "Invoice INV-2024-{small} is pending.", "The build took 12 minutes on v2.7.1.", "Python 3.11.7 is required.",
    "The final score was 2-1.", "Use version==2.31.0.1 to pin it.", "Pages 120-145 cover the basics.",
    "The server handled 15000 requests per second.", "The meeting moved to 05/15/2024.", "Room 204, floor 3.",
    "Formula: 601 * 2 = 1202.", "It weighs 12.5 kg and costs nothing to ship.", "Between 2019 and 2021 prices held.",
    "Password: at least 12 characters, one digit.", "Request id 123e4567-e89b-12d3-a456-426614174000 failed.",
    "The sha256 is 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08.", "Aspect ratio 16:9.",
    "Timestamp 2024-05-12T10:30:45Z.", "Coordinates 51.5072, -0.1276.", "Set max_tokens = 100000 for long runs.",
    "The api_key field is optional.", "Each token: roughly four characters.", "Node 20.11.1 and npm 10.2.4 are fine.",
]


def _fill_negative(rng: random.Random, sentence: str) -> str:
    return (sentence.replace("{order}", _order_number(rng)).replace("{count}", str(rng.randrange(2, 5000)))
            .replace("{small}", str(rng.randrange(1, 999))))


def _order_number(rng: random.Random) -> str:
    """An order number that is no identifier: random length, redrawn while it passes a checksum or
    reads as a mobile number (such a number is indistinguishable from a real identifier)."""
    while True:
        value = str(rng.randrange(1, 10)) + _digits(rng, rng.randrange(4, 12))
        if not _looks_valid(value):
            return value


def _looks_valid(value: str) -> bool:
    """Whether a digit string passes one of the digit identifiers' checks (generator-side algorithms)."""
    n = len(value)
    if n == 9:
        return value[-1] == regon9_check(value[:-1]) or value[:2] in MOBILE
    if n == 10:
        return nip_check(value[:-1]) == value[-1]
    if n == 11:
        return _pesel_valid(value)
    if n == 14:
        return value[-1] == regon14_check(value[:-1])
    if 13 <= n <= 19:
        return _luhn_digit(value[:-1]) == value[-1]
    return False


def regon9_check(body: str) -> str:
    return str(sum(w * int(c) for w, c in zip([8, 9, 2, 3, 4, 5, 6, 7], body)) % 11 % 10)


def regon14_check(body: str) -> str:
    return str(sum(w * int(c) for w, c in zip([2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8], body)) % 11 % 10)


def nip_check(body: str) -> str:
    r = sum(w * int(c) for w, c in zip([6, 5, 7, 2, 3, 4, 5, 6, 7], body)) % 11
    return "x" if r == 10 else str(r)


def _pesel_valid(value: str) -> bool:
    weights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
    return (10 - sum(w * int(c) for w, c in zip(weights, value)) % 10) % 10 == int(value[-1])


TEMPLATES_PL = {
    "letter": [
        "Szanowni Państwo,\n\nw nawiązaniu do umowy zawartej z {name}, PESEL {PESEL}, legitymującym się dowodem "
        "osobistym {ID_CARD}, uprzejmie informuję, że wynagrodzenie w wysokości {MONEY} zostanie przelane na "
        "rachunek nr {NRB}.\n",
        "Dane pracodawcy: {firm}, NIP {NIP}, REGON {REGON}, KRS {KRS}, ul. {street} {n}, {POSTAL_CODE} {town}.\n",
        "Pracownik {name}, ur. {BIRTH_DATE}, zamieszkały przy ul. {street} {n}, {POSTAL_CODE} {town}, "
        "tel. {PHONE}, e-mail: {EMAIL}.\n",
        "Prosimy o kontakt pod numerem {PHONE_GROUPED} lub mailowo ({EMAIL}).\n",
        "Kwota do zapłaty: {MONEY}. Termin płatności: 14 dni.\n",
        "Z poważaniem,\n{name}\n",
    ],
    "ticket": [
        "Zgłoszenie: klient {name} (PESEL-u {PESEL}) nie może zalogować się na {URL}.\n",
        "Klient podał numer paszportu {PASSPORT} oraz datę urodzenia {BIRTH_DATE}.\n",
        "Zwrot {MONEY} na kartę {CARD} nie dotarł.\n",
        "Adres IP klienta: {IP}, urządzenie o adresie MAC {MAC}.\n",
        "Samochód klienta (VIN: {VIN}) czeka w serwisie.\n",
        "Faktura dla firmy o NIP: {NIP} została wystawiona.\n",
        "Przelew zagraniczny na IBAN {IBAN} na kwotę {MONEY_EN}.\n",
        "Oddzwonić na {PHONE_GROUPED}.\n",
    ],
    "chat": [
        "Cześć, mój PESEL to {PESEL}, a numer dowodu {ID_CARD}. Co dalej?\n",
        "Wyślij proszę umowę na {EMAIL}, dzięki!\n",
        "Numer konta: {NRB}\n",
        "Zadzwoń do mnie: {PHONE}\n",
        "Urodziłam się {BIRTH_DATE} w Gdańsku.\n",
        "Moja pensja to {MONEY} brutto, czy to dużo?\n",
        "Mieszkam na ul. {street} {n}, {POSTAL_CODE} {town}.\n",
        "Firma ma REGON {REGON} i NIP {NIP}.\n",
        "Czy ten numer karty {CARD} jest poprawny?\n",
        "Mój numer: {PHONE}\n",
    ],
}
TEMPLATES_EN = {
    "letter": [
        "Dear Sir or Madam,\n\nplease find the details of {name}, born {BIRTH_DATE_EN}, passport no. {PASSPORT}. "
        "The agreed fee of {MONEY_EN} will be paid to {IBAN}.\n",
        "You can reach me at {EMAIL} or on {PHONE_GROUPED}.\n",
        "Kind regards,\n{name}\n",
    ],
    "ticket": [
        "Customer reports login failures from {IP} on {URL}.\n",
        "Refund of {MONEY_EN} to card {CARD} is pending.\n",
        "Date of birth: {BIRTH_DATE_EN}. Phone: {PHONE}.\n",
        "Device MAC {MAC}, vehicle VIN {VIN}.\n",
    ],
    "chat": [
        "Hi! My email is {EMAIL} and my phone is {PHONE}.\n",
        "Can you check why my card {CARD} was declined?\n",
        "My DOB is {BIRTH_DATE_EN}, is that needed?\n",
        "The invoice total is {MONEY_EN}.\n",
        "Here's the token that fails: {API_KEY}\n",
        "Reach me on {PHONE} after 5.\n",
    ],
}
CODE_TEMPLATES = [
    "OPENAI_API_KEY={API_KEY}\nDB_PASSWORD={PASSWORD}\nDB_HOST=db.internal\nDEBUG=false\n",
    "config = {{\n    \"api_key\": \"{API_KEY}\",\n    \"password\": \"{PASSWORD}\",\n    \"max_tokens\": 4096,\n}}\n",
    "database:\n  user: app\n  password: {PASSWORD}\n  port: 5432\nauth_token: {TOKEN}\n",
    "headers = {{\"Authorization\": \"Bearer {TOKEN}\"}}\nTIMEOUT = 30\n",
    "client = Client(api_key=\"{API_KEY}\", timeout=30)\nresult = client.run(version=\"1.2.3\")\n",
    "# kontakt: {EMAIL}\nSERVER_IP = \"{IP}\"\nSECRET_KEY = '{TOKEN}'\n",
]


def _templates(english: bool) -> dict[str, list[str]]:
    return TEMPLATES_EN if english else TEMPLATES_PL


def _fix_braces(template: str) -> str:
    return template.replace("{{", "\x00").replace("}}", "\x01")


def _fill_escaped(rng: random.Random, template: str, b: Builder) -> None:
    """Like ``_fill`` for code templates, where ``{{``/``}}`` stand for literal braces."""
    text = _fix_braces(template)
    pieces = text.split("{")
    b.add(pieces[0].replace("\x00", "{").replace("\x01", "}"))
    slots = _slot_values(rng)
    for piece in pieces[1:]:
        name, rest = piece.split("}", 1)
        entity, value = slots[name]()
        b.value(entity, value)
        b.add(rest.replace("\x00", "{").replace("\x01", "}"))


GENRES = ("letter", "ticket", "chat", "code")


def labelled_text(rng: random.Random, genre: str | None = None, english: bool | None = None,
                  sentences: int = 5) -> Labelled:
    """One synthetic text of a genre (letter, support ticket, chat turn, code/config), with gold spans."""
    genre = genre or rng.choice(GENRES)
    english = rng.random() < 0.35 if english is None else english
    b = Builder()
    if genre == "code":
        _fill_escaped(rng, rng.choice(CODE_TEMPLATES), b)
        return b.build()
    pool = _templates(english)[genre]
    negatives = NEGATIVES_EN if english else NEGATIVES_PL
    for _ in range(sentences):
        if rng.random() < 0.35:
            b.add(_fill_negative(rng, rng.choice(negatives)) + rng.choice([" ", "\n"]))
        _fill(rng, rng.choice(pool), b)
    return b.build()


def labelled_corpus(seed: int, n: int) -> list[Labelled]:
    rng = random.Random(seed)
    return [labelled_text(rng) for _ in range(n)]


# --- PII-free prose -------------------------------------------------------------------------------

_PROSE_PL = {
    "subj": ["Zespół", "Kierownik projektu", "Nasz dział", "Klient", "System", "Nowy moduł", "Ta funkcja", "Raport"],
    "verb": ["przygotował", "sprawdził", "opisał", "poprawił", "omówił", "zaplanował", "przyspieszył", "uprościł"],
    "obj": ["plan wdrożenia", "dokumentację", "interfejs użytkownika", "proces zamówień", "harmonogram prac",
            "testy integracyjne", "konfigurację serwera", "wyniki ankiety"],
    "tail": ["bez większych problemów", "przed końcem tygodnia", "zgodnie z założeniami", "na prośbę zarządu",
             "w ramach sprintu", "po długiej dyskusji", "z pomocą działu IT", "w Krakowie i Gdańsku"],
}
_PROSE_EN = {
    "subj": ["The team", "Our manager", "The new service", "This feature", "The client", "The report", "Support"],
    "verb": ["reviewed", "updated", "described", "simplified", "planned", "fixed", "discussed", "measured"],
    "obj": ["the rollout plan", "the documentation", "the user interface", "the order flow", "the schedule",
            "the integration tests", "the server settings", "the survey results"],
    "tail": ["without major issues", "before the end of the week", "as agreed", "at the board's request",
             "during the sprint", "after a long discussion", "with help from IT", "in London and Warsaw"],
}


def _prose_sentence(rng: random.Random, english: bool) -> str:
    w = _PROSE_EN if english else _PROSE_PL
    sentence = f"{rng.choice(w['subj'])} {rng.choice(w['verb'])} {rng.choice(w['obj'])} {rng.choice(w['tail'])}."
    if rng.random() < 0.45:
        sentence += " " + _fill_negative(rng, rng.choice(NEGATIVES_EN if english else NEGATIVES_PL))
    return sentence


def clean_prose(seed: int, size: int) -> str:
    """About ``size`` characters of ordinary Polish and English prose with hard negatives and no PII."""
    rng = random.Random(seed)
    paragraphs: list[str] = []
    total = 0
    while total < size:
        english = rng.random() < 0.4
        paragraph = " ".join(_prose_sentence(rng, english) for _ in range(rng.randrange(3, 8)))
        paragraphs.append(paragraph)
        total += len(paragraph) + 2
    return "\n\n".join(paragraphs)[:size]


def chat_message(rng: random.Random, size: int = 2048, pii_share: float = 0.15) -> Labelled:
    """A chat turn of about ``size`` characters: prose (with hard negatives) where a ``pii_share`` of
    the sentences carries identifiers, as users paste them."""
    b = Builder()
    english = rng.random() < 0.4
    pool = _templates(english)["chat"] + _templates(english)["ticket"]
    while b.size < size - 120:
        if rng.random() < pii_share:
            _fill(rng, rng.choice(pool), b)
        else:
            b.add(_prose_sentence(rng, english) + " ")
    return b.build()


def iter_valid(entity: str, seed: int, n: int) -> Iterator[str]:
    rng = random.Random(seed)
    for _ in range(n):
        yield VALID[entity](rng)
