"""Key files and the envelope: what the gateway can and cannot do with the public key alone."""

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from llm_router_api.audit import AuditError, AuditLog, generate_keypair
from llm_router_api.audit.chain import GENESIS, associated_data, header
from llm_router_api.audit.crypto import Opener, Sealer, load_private_key, load_public_key


def test_keypair_files_modes_and_no_overwrite(tmp_path):
    private_path, public_path = generate_keypair(tmp_path / "keys")
    assert private_path.name == "audit-private.pem" and public_path.name == "audit-public.pem"
    assert stat.S_IMODE(os.stat(private_path).st_mode) == 0o600
    assert b"PRIVATE KEY" in private_path.read_bytes() and b"PUBLIC KEY" in public_path.read_bytes()
    before = private_path.read_bytes()
    with pytest.raises(AuditError, match="refusing to overwrite"):
        generate_keypair(tmp_path / "keys")
    assert private_path.read_bytes() == before
    public_path.unlink()  # even one of the two present is enough to refuse
    with pytest.raises(AuditError, match="audit-private.pem already exists"):
        generate_keypair(tmp_path / "keys")


def test_seal_open_round_trip_and_header_binding(tmp_path):
    private_path, public_path = generate_keypair(tmp_path)
    sealer, opener = Sealer(load_public_key(public_path)), Opener(load_private_key(private_path))
    assert sealer.kid == opener.kid
    head = header(7, "2026-01-01T00:00:00.000000Z", "masking", GENESIS)
    ephemeral, key = sealer.derive()
    record = {**head, **sealer.seal(ephemeral, key, b'{"a":1}', associated_data(head))}
    assert opener.open(record) == b'{"a":1}'
    for name, value in (("seq", 8), ("kind", "auth"), ("ts", "2026-01-01T00:00:01.000000Z"), ("prev", "1" * 64)):
        with pytest.raises(AuditError, match="authentication failed"):
            opener.open({**record, name: value})
    first, second = sealer.derive(), sealer.derive()
    assert first[0] != second[0] and first[1] != second[1]  # a fresh ephemeral key per record


def test_wrong_private_key_is_named(tmp_path):
    _, public_path = generate_keypair(tmp_path / "a")
    other_private, _ = generate_keypair(tmp_path / "b")
    sealer = Sealer(load_public_key(public_path))
    head = header(1, "t", "auth", GENESIS)
    record = {**head, **sealer.seal(*sealer.derive(), b"{}", associated_data(head))}
    with pytest.raises(AuditError, match=f"encrypted for key {sealer.kid}.*wrong key"):
        Opener(load_private_key(other_private)).open(record)


def test_unusable_public_keys_fail_clearly(tmp_path):
    private_path, _ = generate_keypair(tmp_path)
    with pytest.raises(AuditError, match="cannot read the audit public key file .*missing.pem"):
        AuditLog.open(tmp_path / "log", tmp_path / "missing.pem")
    with pytest.raises(AuditError, match="holds a private key"):
        AuditLog.open(tmp_path / "log", private_path)
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    with pytest.raises(AuditError, match="is not a PEM public key"):
        AuditLog.open(tmp_path / "log", junk)
    ed = tmp_path / "ed.pem"
    ed.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(AuditError, match="needs an X25519 key"):
        AuditLog.open(tmp_path / "log", ed)
    with pytest.raises(AuditError, match="is not a PEM private key"):
        load_private_key(junk)
