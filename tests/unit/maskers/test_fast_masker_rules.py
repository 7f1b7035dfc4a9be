"""FastMasker rule by rule: exact spans and entities, in Polish and English sentences, and what must stay."""

from __future__ import annotations

import random
import re
import threading

import pytest

from llm_router_plugins.maskers.base import Finding
from llm_router_plugins.maskers.fast_masker import RULES, FastMasker
from tests.pii import generators as gen

MASKER = FastMasker()
N = 250  # generated values per type


def found(text: str, masker: FastMasker = MASKER) -> list[tuple[str, str]]:
    return [(text[f.start:f.end], f.entity) for f in masker.find(text)]


def assert_only(text: str, *expected: tuple[str, str]) -> None:
    assert found(text) == list(expected), text


# --- generated identifiers: found whole, with the right entity; broken ones are not -------------

SENTENCES = ["Mój identyfikator to {} i nic więcej.", "Value: {}", "{}", "(numer: {}).", "„{}”", "id={}, ok",
             "Podaję: {}!", "Please use {} for that."]


@pytest.mark.parametrize("entity", ["PESEL", "NIP", "REGON", "ID_CARD", "PASSPORT", "NRB", "IBAN", "CARD"])
def test_generated_valid_values_are_found_with_exact_span(entity):
    rng = random.Random(f"valid-{entity}")
    formats = {"NIP": gen.nip_formatted, "NRB": gen.nrb_formatted, "IBAN": gen.iban_formatted,
               "CARD": gen.card_formatted}
    for i in range(N):
        value = gen.VALID[entity](rng)
        if entity in formats and i % 2:
            value = formats[entity](rng, value)
        sentence = SENTENCES[i % len(SENTENCES)]
        text = sentence.format(value)
        start = sentence.index("{}")
        spans = [(f.start, f.end, f.entity) for f in MASKER.find(text)]
        assert spans == [(start, start + len(value), entity)], text


@pytest.mark.parametrize("entity", ["PESEL", "NIP", "REGON", "ID_CARD", "PASSPORT", "NRB", "IBAN", "CARD"])
def test_broken_checksums_are_not_found_as_that_type(entity):
    rng = random.Random(f"broken-{entity}")
    for i in range(N):
        value = gen.broken(rng, entity, gen.VALID[entity](rng))
        text = f"Numer w dokumencie: {value}."
        assert (value, entity) not in found(text), text


def test_generated_phones_dates_and_contacts_are_found():
    rng = random.Random("contacts")
    for _ in range(N):
        for template, maker, entity in [
            ("tel. {}", gen.phone, "PHONE"), ("Kontakt: {} (po 16).", gen.phone, "PHONE"),
            ("Prosimy dzwonić pod {}.", lambda r: gen.phone(r, bare=False), "PHONE"),
            ("ur. {} w Łodzi", lambda r: gen.date_text(r, english=False), "BIRTH_DATE"),
            ("Date of birth: {}.", lambda r: gen.date_text(r, english=True), "BIRTH_DATE"),
            ("Pensja: {} brutto.", gen.money, "MONEY"), ("pisz na {}!", gen.email, "EMAIL"),
            ("IP {} odrzucone", gen.ipv4, "IP"), ("adres {} i dalej", gen.ipv6, "IP"), ("MAC: {}.", gen.mac, "MAC"),
            ("VIN {}", gen.vin, "VIN"), ("KRS {}", gen.krs, "KRS"), ("klucz {}", gen.api_key, "SECRET"),
        ]:
            value = maker(rng)
            text = template.format(value)
            assert (value, entity) in found(text), text


# --- Polish inflection, diacritics, punctuation, position ----------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("PESEL-u 44051401359", [("44051401359", "PESEL")]),
    ("Numer PESEL żony: 44051401359, męża brak.", [("44051401359", "PESEL")]),
    ("44051401359", [("44051401359", "PESEL")]),
    ("„44051401359”", [("44051401359", "PESEL")]),
    ("ą 44051401359.", [("44051401359", "PESEL")]),
    ("na adres jan.kowalski@example.pl.", [("jan.kowalski@example.pl", "EMAIL")]),
    ("Pisz: ania@firma.com.pl!", [("ania@firma.com.pl", "EMAIL")]),
    ("(NIP: 526-104-08-28)", [("526-104-08-28", "NIP")]),
    ("NIP PL5261040828 i PL 526-10-40-828", [("PL5261040828", "NIP"), ("PL 526-10-40-828", "NIP")]),
    ("nr rachunku: PL61 1090 1014 0000 0712 1981 2874,", [("PL61 1090 1014 0000 0712 1981 2874", "NRB")]),
    ("konto 61109010140000071219812874.", [("61109010140000071219812874", "NRB")]),
    ("REGON firmy: 123456785;", [("123456785", "REGON")]),
    ("NIP 526 104 08 28", [("526 104 08 28", "NIP")]),
    ("İstanbul, jan@example.pl", [("jan@example.pl", "EMAIL")]),  # lower() changes this text's length
    ("tel.\u00a0601\u00a0234\u00a0567", [("601\u00a0234\u00a0567", "PHONE")]),
])
def test_values_in_polish_text(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text", [
    "ABC44051401359XYZ", "ą44051401359", "44051401359ą", "x44051401359", "44051401359_1", "4405140135912",
    "3.44051401359", "44051401359.5",
])
def test_digits_glued_to_letters_or_numbers_are_not_identifiers(text):
    assert ("44051401359", "PESEL") not in found(text)


# --- what must not be masked -----------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "rok 2024", "w roku 2024 sprzedaż wzrosła", "for 2024 we plan more", "Spotkanie o 12:30, potem 14:45:10.",
    "Wzrost o 15% i 4,5 %.", "Przyszły 3 osoby.", "Na dworze 25 stopni.", "Termin: 2024-06-30.",
    "Spotkanie przeniesiono na 15.05.2024.", "Faktura nr 1234567890 (zła suma kontrolna).",
    "Zamówienie nr 601234567 wysłane.", "Order #601234567 shipped.", "Wzór: 601234567 * 2 = 1202469134.",
    "W mieście żyje 123 456 789 osób.", "Zakres: 100 200 300.", "wynik 12-345", "strony 12-345 i dalej",
    "Zainstaluj wersję 1.2.3.4.", "version 1.2.3.4", "v1.2.3.4", "pip install foo==1.2.3.4", "release 1.2.3.4",
    "ver. 1.2.3.4", "1.2.3.4-beta", "rozdział 1.2.3.4", "PKWiU 62.01.11.0", "256.1.1.1 to nie adres",
    "1.2.3.4.5", "std::vector<int> a::b", "Kod SKU-48213, UUID 123e4567-e89b-12d3-a456-426614174000.",
    "Hasło: minimum 8 znaków.", "Password: at least 12 characters.", "max_tokens = 100000",
    "password = get_password()", "token = settings.TOKEN", "password: ${DB_PASSWORD}", "api_key: null",
    "Urodziny firmy. Spotkanie 12.05.2024.", "ur. 31.02.1985", "Chrome 120.0.6099.109",
    "Sprawdź na stronie 12.", "Python 3.11.7 i Node 20.11.1", "Kolor #FF5733, proporcje 16:9.",
    "kod rabatowy 12-345", "Suma: 5 +12345678901", "KRS, NIP: 0000028860",
])
def test_false_positives_the_reference_product_had(text):
    assert found(text) == []


# --- rule by rule ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("serwer 10.0.0.1 nie odpowiada", [("10.0.0.1", "IP")]),
    ("IP: 192.168.1.254.", [("192.168.1.254", "IP")]),
    ("wersja 1.2.3.4 stoi na 10.0.0.7", [("10.0.0.7", "IP")]),
    ("adres 2001:db8::8a2e:370:7334 i pełny 2001:0db8:85a3:0000:0000:8a2e:0370:7334",
     [("2001:db8::8a2e:370:7334", "IP"), ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "IP")]),
    ("MAC 00:1A:2B:3C:4D:5E, 00-1a-2b-3c-4d-5e i 001a.2b3c.4d5e",
     [("00:1A:2B:3C:4D:5E", "MAC"), ("00-1a-2b-3c-4d-5e", "MAC"), ("001a.2b3c.4d5e", "MAC")]),
])
def test_network(text, expected):
    assert found(text) == expected


@pytest.mark.parametrize("text, value", [
    ("tel. 601 234 567", "601 234 567"), ("Dzwoń: 601-234-567.", "601-234-567"),
    ("+48 601 234 567", "+48 601 234 567"), ("nr +48601234567,", "+48601234567"),
    ("0048 601 234 567", "0048 601 234 567"), ("(+48) 601 234 567", "(+48) 601 234 567"),
    ("biuro 22 123 45 67", "22 123 45 67"), ("biuro (22) 123-45-67", "(22) 123-45-67"),
    ("Mój numer 601234567", "601234567"), ("UK: +44 20 7946 0958", "+44 20 7946 0958"),
    ("US +1 555 123 4567.", "+1 555 123 4567"), ("+48 22 123 45 67", "+48 22 123 45 67"),
])
def test_phones(text, value):
    assert found(text) == [(value, "PHONE")]


def test_a_valid_regon_is_not_taken_for_a_phone_unless_labelled():
    # 601234566 passes the REGON checksum and starts with a mobile prefix.
    assert found("REGON 601234566") == [("601234566", "REGON")]
    assert found("Numer 601234566") == [("601234566", "REGON")]
    assert found("tel. 601234566") == [("601234566", "PHONE")]
    assert found("+48 601234566") == [("+48 601234566", "PHONE")]


def test_a_label_names_the_value_next_to_it_not_one_further_on():
    assert found("Kontakt z firmą, REGON 123456785") == [("123456785", "REGON")]
    assert found("Kontakt: 601 234 567") == [("601 234 567", "PHONE")]
    assert found("tel. 601234567 mieszkam w Krakowie") == [("601234567", "PHONE")]
    assert found("ip:10.0.0.1") == [("10.0.0.1", "IP")]


def test_a_value_failing_one_checksum_may_be_another_type():
    # 0000028860 cannot be a NIP (no tax office code starts with 0), but after "KRS" it is a KRS number.
    assert found("KRS: 0000028860") == [("0000028860", "KRS")]
    assert found("numer KRS to 0000028860") == [("0000028860", "KRS")]
    assert found("0000028860") == []
    assert found("KRS 12, nr 0000028860") == []  # the label belongs to another number


@pytest.mark.parametrize("text, value, entity", [
    ("dowód ABA300000", "ABA300000", "ID_CARD"), ("seria i numer: ABA 300000.", "ABA 300000", "ID_CARD"),
    ("dowód CHF389000", "CHF389000", "ID_CARD"), ("kwota EUR 333741", "EUR 333741", "MONEY"),
    ("paszport ZS0000177", "ZS0000177", "PASSPORT"), ("passport no. ZS 0000177", "ZS 0000177", "PASSPORT"),
    ("IBAN DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00", "IBAN"),
    ("GB82WEST12345698765432", "GB82WEST12345698765432", "IBAN"),
    ("karta 4111 1111 1111 1111", "4111 1111 1111 1111", "CARD"),
    ("card 4111-1111-1111-1111.", "4111-1111-1111-1111", "CARD"),
    ("Amex 3782 822463 10005", "3782 822463 10005", "CARD"),
    ("VIN: WVWZZZ1JZXW000001", "WVWZZZ1JZXW000001", "VIN"), ("vin 1M8GDM9AXKP042788.", "1M8GDM9AXKP042788", "VIN"),
])
def test_documents_accounts_cards_vehicles(text, value, entity):
    assert found(text) == [(value, entity)]


@pytest.mark.parametrize("text", [
    "dowód ABA300001", "paszport ZS0000178", "DE89370400440532013001", "karta 4111 1111 1111 1112",
    "kod 1234567812345670", "EUR 333741", "WVWZZZ1JZXW00000I", "ABCDEFGHJKLMNPRST", "12345678901234567",
])
def test_documents_that_fail_their_checks(text):
    assert [e for _, e in found(text) if e in ("ID_CARD", "PASSPORT", "IBAN", "CARD", "VIN")] == []


@pytest.mark.parametrize("text, value", [
    ("ur. 12.03.1985", "12.03.1985"), ("urodzony 12 marca 1985 r. w Gdyni", "12 marca 1985"),
    ("data urodzenia: 1985-03-12", "1985-03-12"), ("Urodziłam się 5 października 1990.", "5 października 1990"),
    ("born on 12 March 1985", "12 March 1985"), ("Date of birth: March 12, 1985.", "March 12, 1985"),
    ("DOB 03/25/1985", "03/25/1985"), ("1985-03-12 (data urodzenia)", "1985-03-12"),
])
def test_birth_dates_need_birth_context(text, value):
    assert found(text) == [(value, "BIRTH_DATE")]
    unlabelled = re.sub(r"(?i)urodz|ur\.|born|birth|dob", "xx", text)
    assert found(unlabelled) == [], unlabelled


@pytest.mark.parametrize("text, value", [
    ("Płacę 1500 zł.", "1500 zł"), ("1500 zl", "1500 zl"), ("razem 1 500,00 PLN", "1 500,00 PLN"),
    ("1.500,00 zł", "1.500,00 zł"), ("około 2 tys. zł", "2 tys. zł"), ("15 złotych", "15 złotych"),
    ("cena €1,200.50.", "€1,200.50"), ("only $300!", "$300"), ("300 USD", "300 USD"), ("EUR 1 200", "EUR 1 200"),
    ("1500 złotych brutto", "1500 złotych"), ("reszta 100 gr", "100 gr"), ("1,5 mln zł", "1,5 mln zł"),
])
def test_money(text, value):
    assert found(text) == [(value, "MONEY")]


@pytest.mark.parametrize("text, value", [
    ("ul. Długa 5, 00-950 Warszawa", "00-950"), ("31-042 Kraków", "31-042"),
    ("adres: ul. Długa 5 m. 3, 31-042 krakow", "31-042"), ("kod pocztowy 80-001", "80-001"),
])
def test_postal_codes_read_as_addresses(text, value):
    assert found(text) == [(value, "POSTAL_CODE")]


@pytest.mark.parametrize("text, value", [
    ("token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
     "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("klucz sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv-0123456789", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUv-0123456789"),
    ("OPENAI_API_KEY=sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123", "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123"),
    ("ghp_" + "a1B2" * 9, "ghp_" + "a1B2" * 9), ("aws AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("slack xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"),
    ("AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("github_pat_11ABCDEFG0123456789_abcdefghij", "github_pat_11ABCDEFG0123456789_abcdefghij"),
    ("api_key=abc123def456ghi", "abc123def456ghi"), ("password: hunter2", "hunter2"),
    ('{"password": "s3cr3t pass!"}', "s3cr3t pass!"), ("DB_PASSWORD=Zima2024!", "Zima2024!"),
    ("Hasło: Kot123!", "Kot123!"), ("headers: Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef"),
    ("secret_key = 'q8Zr2LmN5pXv7TtY'", "q8Zr2LmN5pXv7TtY"),
])
def test_secrets_mask_the_value_only(text, value):
    assert found(text) == [(value, "SECRET")]


@pytest.mark.parametrize("text, value", [
    ("zobacz https://example.com/a?b=1.", "https://example.com/a?b=1"), ("(www.example.pl)", "www.example.pl"),
    ("link: https://sklep.pl/user/44051401359 ok", "https://sklep.pl/user/44051401359"),
])
def test_urls_are_masked_whole(text, value):
    assert found(text) == [(value, "URL")]


# --- the masker as a whole -------------------------------------------------------------------------

def test_findings_are_sorted_and_disjoint_on_generated_texts():
    rng = random.Random("mixed")
    for _ in range(150):
        text, gold = gen.labelled_text(rng)
        findings = MASKER.find(text)
        assert findings == sorted(findings)
        assert all(a.end <= b.start for a, b in zip(findings, findings[1:]))
        assert all(0 <= f.start < f.end <= len(text) for f in findings)
        assert {(s, e, ent) for s, e, ent in gold} <= {(f.start, f.end, f.entity) for f in findings} | {
            (s, e, ent) for s, e, ent in gold if ent in ("PHONE", "CARD")}  # a REGON may outrank these by chance


def test_overlaps_go_to_the_higher_priority_rule():
    text = "https://x.pl/?pesel=44051401359&mail=jan@x.pl"
    assert found(text) == [(text, "URL")]
    text = "PESEL 44051401359 tel. +48 601 234 567 NRB 61109010140000071219812874"
    assert found(text) == [("44051401359", "PESEL"), ("+48 601 234 567", "PHONE"),
                           ("61109010140000071219812874", "NRB")]


def test_rule_subset_and_names():
    masker = FastMasker(rules=["pesel", "email"])
    assert masker.name == "fast_masker"
    assert [r.name for r in masker.rules] == ["email", "pesel"]
    text = "PESEL 44051401359, tel. 601 234 567, mail a@b.pl"
    assert found(text, masker) == [("44051401359", "PESEL"), ("a@b.pl", "EMAIL")]
    assert [f.rule for f in masker.find(text)] == ["pesel", "email"]
    assert FastMasker().rules == RULES and FastMasker(rules=[]).find(text) == []


def test_unknown_rule_name_is_an_error_naming_it():
    with pytest.raises(ValueError, match=r"'peselx'.*known: url"):
        FastMasker(rules=["pesel", "peselx"])


def test_rule_names_are_unique_lowercase_labels_and_entities_upper_snake():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(n.replace("_", "").isalnum() and n.islower() for n in names)
    assert all(r.entity.replace("_", "").isalpha() and r.entity.isupper() for r in RULES)


def test_empty_and_plain_text():
    assert MASKER.find("") == []
    assert MASKER.find("Zwykłe zdanie bez żadnych danych osobowych.") == []


def test_find_is_thread_safe_and_stateless():
    rng = random.Random("threads")
    texts = [gen.labelled_text(rng)[0] for _ in range(40)]
    expected = [MASKER.find(t) for t in texts]
    results: dict[int, list[list[Finding]]] = {}

    def work(k: int) -> None:
        results[k] = [MASKER.find(t) for t in (texts if k % 2 else texts[::-1])]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, got in results.items():
        assert got == (expected if k % 2 else expected[::-1])
