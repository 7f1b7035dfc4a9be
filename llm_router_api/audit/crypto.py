"""Envelope encryption to one X25519 public key, and the key files.

The gateway holds only the public key: it can seal records but never open them. Per record an
ephemeral X25519 key pair is agreed with the recipient's key; HKDF-SHA256 (its ``info`` binds a
context string and both public keys) gives an AES-256-GCM key used once, with a random 96-bit nonce
and the record header as associated data. The costly part (the key agreement, ~60 µs) does not
depend on the header, so :meth:`Sealer.derive` runs before the writer takes the file lock, and only
:meth:`Sealer.seal` (AES-GCM, a few µs) runs under it, once ``seq`` and ``prev`` are known.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .chain import associated_data
from .errors import AuditError

CONTEXT = b"llm-router audit log v1 x25519-hkdf-sha256-aes256gcm"
PRIVATE_NAME = "audit-private.pem"
PUBLIC_NAME = "audit-public.pem"
NONCE_BYTES = 12


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)


def raw_public(key: X25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public: X25519PublicKey) -> str:
    """A short fingerprint stored in each record: says which key pair a record needs, and nothing more."""
    return hashlib.sha256(raw_public(public)).hexdigest()[:16]


def _derive(shared: bytes, ephemeral: bytes, recipient: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=CONTEXT + ephemeral + recipient).derive(shared)


def _read(path: str | os.PathLike, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read the audit {what} key file {path}: {exc.strerror or exc}") from None


def load_public_key(path: str | os.PathLike) -> X25519PublicKey:
    data = _read(path, "public")
    if b"PRIVATE KEY" in data:
        raise AuditError(f"{path} holds a private key; give the gateway the public key (audit-public.pem) only")
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise AuditError(f"{path} is not a PEM public key (make one with `llm-router audit keygen`)") from None
    if not isinstance(key, X25519PublicKey):
        raise AuditError(f"{path} holds a {type(key).__name__}; the audit log needs an X25519 key "
                         "(`llm-router audit keygen`)")
    return key


def load_private_key(path: str | os.PathLike) -> X25519PrivateKey:
    data = _read(path, "private")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise AuditError(f"{path} is passphrase-protected; the audit tools read unencrypted PEM keys only") from None
    except ValueError:
        raise AuditError(f"{path} is not a PEM private key (the audit-private.pem written by "
                         "`llm-router audit keygen`)") from None
    if not isinstance(key, X25519PrivateKey):
        raise AuditError(f"{path} holds a {type(key).__name__}; audit records are encrypted to X25519 keys")
    return key


def generate_keypair(directory: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``audit-private.pem`` (0600) and ``audit-public.pem`` in ``directory``; never overwrite either."""
    folder = Path(directory)
    private_path, public_path = folder / PRIVATE_NAME, folder / PUBLIC_NAME
    for path in (private_path, public_path):
        if os.path.lexists(path):
            raise AuditError(f"{path} already exists; refusing to overwrite an audit key")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise AuditError(f"cannot create {folder}: {exc.strerror or exc}") from None
    private = X25519PrivateKey.generate()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_new(private_path, private_pem, 0o600)
    try:
        _write_new(public_path, public_pem, 0o644)  # a public key is no secret
    except AuditError:
        os.unlink(private_path)  # keep the pair whole: a lone private key would only confuse
        raise
    return private_path, public_path


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    except FileExistsError:
        raise AuditError(f"{path} already exists; refusing to overwrite an audit key") from None
    except OSError as exc:
        raise AuditError(f"cannot create {path}: {exc.strerror or exc}") from None
    try:
        os.write(fd, data)
        os.fchmod(fd, mode)  # whatever the umask
    finally:
        os.close(fd)


class Sealer:
    """Seals records to one recipient public key (what the gateway holds)."""

    def __init__(self, public_key: X25519PublicKey) -> None:
        self._public = public_key
        self._public_raw = raw_public(public_key)
        self.kid = key_id(public_key)

    def derive(self) -> tuple[bytes, bytes]:
        """A fresh ephemeral public key and the one-time AES key agreed with the recipient (the slow part)."""
        ephemeral = X25519PrivateKey.generate()
        ephemeral_raw = raw_public(ephemeral.public_key())
        return ephemeral_raw, _derive(ephemeral.exchange(self._public), ephemeral_raw, self._public_raw)

    def seal(self, ephemeral: bytes, key: bytes, plaintext: bytes, aad: bytes) -> dict[str, str]:
        nonce = os.urandom(NONCE_BYTES)
        return {"kid": self.kid, "epk": b64(ephemeral), "nonce": b64(nonce),
                "ct": b64(AESGCM(key).encrypt(nonce, plaintext, aad))}


class Opener:
    """Opens records with the recipient's private key (ops, offline)."""

    def __init__(self, private_key: X25519PrivateKey) -> None:
        self._private = private_key
        self._public_raw = raw_public(private_key.public_key())
        self.kid = key_id(private_key.public_key())

    def open(self, record: dict[str, Any]) -> bytes:
        """The plaintext of a well-formed record; AuditError saying why not (no content in the message)."""
        if record["kid"] != self.kid:
            raise AuditError(f"record is encrypted for key {record['kid']}, the private key given is {self.kid} "
                             "(wrong key?)")
        try:
            ephemeral, nonce, ciphertext = unb64(record["epk"]), unb64(record["nonce"]), unb64(record["ct"])
        except (binascii.Error, ValueError):
            raise AuditError("envelope field is not valid base64 (edited record)") from None
        if len(ephemeral) != 32 or len(nonce) != NONCE_BYTES:
            raise AuditError("envelope has a wrong-sized ephemeral key or nonce (edited record)")
        try:
            shared = self._private.exchange(X25519PublicKey.from_public_bytes(ephemeral))
        except ValueError:
            raise AuditError("envelope's ephemeral key is invalid (edited record)") from None
        key = _derive(shared, ephemeral, self._public_raw)
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, associated_data(record))
        except InvalidTag:
            raise AuditError("authentication failed: the ciphertext or the header (seq, ts, kind, prev, v) "
                             "was edited") from None
