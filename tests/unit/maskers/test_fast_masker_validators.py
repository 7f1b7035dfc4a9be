"""The checksum and date functions alone, against the generators' own implementations and known values."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from llm_router_plugins.maskers.fast_masker import validators as v
from tests.pii import generators as gen

N = 400


@pytest.mark.parametrize("entity, check", [
    ("PESEL", v.pesel), ("NIP", v.nip), ("ID_CARD", v.id_card), ("PASSPORT", v.passport), ("NRB", v.nrb),
    ("IBAN", v.iban), ("CARD", v.card),
])
def test_generated_values_pass_and_broken_ones_fail(entity, check):
    rng = random.Random(f"validators-{entity}")
    for _ in range(N):
        value = gen.VALID[entity](rng)
        assert check(value), value
        broken = gen.broken(rng, entity, value)
        assert not check(broken), broken


def test_regon_both_lengths():
    rng = random.Random(7)
    for _ in range(N):
        nine, fourteen = gen.regon9(rng), gen.regon14(rng)
        assert v.regon9(nine) and not v.regon14(nine)
        assert v.regon14(fourteen) and not v.regon9(fourteen)
        assert not v.regon9(gen.broken(rng, "REGON", nine))
        assert not v.regon14(gen.broken(rng, "REGON", fourteen))


@pytest.mark.parametrize("value, expected", [
    ("44051401359", True), ("44051401358", False),
    ("4405140135", False), ("440514013590", False), ("4405140135a", False), ("٤٤051401359", False),
])
def test_pesel_known_values(value, expected):
    assert v.pesel(value) is expected


@pytest.mark.parametrize("born", [dt.date(1885, 7, 1), dt.date(1999, 12, 31), dt.date(2004, 2, 29),
                                  dt.date(2150, 6, 15), dt.date(2201, 1, 1)])
def test_pesel_century_is_read_from_the_month(born):
    value = gen.pesel(random.Random(1), born)
    assert v.pesel(value)
    assert v.pesel_birth_date(value) == born


def test_pesel_needs_a_real_birth_date():
    # Checksum right, date wrong: month 13, and 30 February.
    for body in ("8513120123", "8502300123"):
        weights = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3]
        check = (10 - sum(w * int(c) for w, c in zip(weights, body)) % 10) % 10
        assert not v.pesel(body + str(check))


@pytest.mark.parametrize("value, expected", [
    ("5261040828", True), ("1234563218", True), ("1234567890", False), ("0261040828", False), ("526104082", False),
])
def test_nip_known_values(value, expected):
    assert v.nip(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("123456785", True), ("123456786", False), ("ABA300000", False),
])
def test_regon9_known_values(value, expected):
    assert v.regon9(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("ABA300000", True), ("ABA300001", False), ("AB3000000", False), ("aba300000", False), ("ABA30000", False),
])
def test_id_card_known_values(value, expected):
    assert v.id_card(value) is expected


@pytest.mark.parametrize("value, expected", [("ZS0000177", True), ("ZS0000178", False), ("Z00000177", False)])
def test_passport_known_values(value, expected):
    assert v.passport(value) is expected


@pytest.mark.parametrize("value, expected", [
    ("DE89370400440532013000", True), ("GB82WEST12345698765432", True), ("GB82WEST1234569876543", False),
    ("DE89370400440532013001", False), ("PL61109010140000071219812874", True), ("XX89370400440532013000", False),
])
def test_iban_known_values(value, expected):
    assert v.iban(value) is expected


def test_nrb_is_a_polish_iban_without_the_country():
    assert v.nrb("61109010140000071219812874")
    assert not v.nrb("61109010140000071219812875")
    assert not v.nrb("6110901014000007121981287")


@pytest.mark.parametrize("value, expected", [
    ("4111111111111111", True), ("4111111111111112", False), ("378282246310005", True), ("5555555555554444", True),
    ("1234567812345670", False),  # Luhn passes, but no issuer uses prefix 12
    ("4111111111111", False),  # 13-digit Visa length, Luhn fails
])
def test_card_known_values(value, expected):
    assert v.card(value) is expected


def test_luhn():
    assert v.luhn("79927398713") and not v.luhn("79927398710") and not v.luhn("")


@pytest.mark.parametrize("value, structure, check_digit", [
    ("1M8GDM9AXKP042788", True, True),  # the textbook North-American example
    ("WVWZZZ1JZXW000001", True, False),  # European: no check digit, still a VIN
    ("WVWZZZ1JZXW00000I", False, False),  # I is never used
    ("12345678901234567", False, False),  # digits only
    ("WVWZZZ1JZXW0000AB", False, False),  # the last four must be digits
])
def test_vin(value, structure, check_digit):
    assert v.vin(value) is structure
    assert v.vin_check_digit(value) is check_digit


@pytest.mark.parametrize("value, expected", [
    ("12.03.1985", True), ("31.02.1985", False), ("1985-03-12", True), ("1985-13-12", False), ("03/25/1985", True),
    ("12 marca 1985", True), ("12 March 1985", True), ("March 12, 1985", True), ("30 lutego 1985", False),
    ("12.03.85", True), ("12 III 1985", True), ("12.03.1750", False),
])
def test_date_text(value, expected):
    assert v.date_text(value) is expected


@pytest.mark.parametrize("check, value, expected", [
    (v.ipv4, "192.168.1.254", True), (v.ipv4, "256.1.1.1", False), (v.ipv4, "1.2.3", False),
    (v.ipv6, "2001:db8::8a2e:370:7334", True), (v.ipv6, "2001:0db8:85a3:0000:0000:8a2e:0370:7334", True),
    (v.ipv6, "fe80::1", False), (v.ipv6, "dead::beef:cafe", False), (v.ipv6, "12:30:45", False),
    (v.pl_mobile, "601234567", True), (v.pl_mobile, "221234567", False), (v.pl_phone, "221234567", True),
    (v.pl_phone, "101234567", False), (v.pl_phone_any, "101234567", True), (v.pl_phone_any, "012345678", False),
    (v.e164, "442079460958", True), (v.e164, "1234567", False),
    (v.krs, "0000028860", True), (v.krs, "000002886", False),
])
def test_shape_checks(check, value, expected):
    assert check(value) is expected
