"""TLS private keys at rest: sealed with AES-256-GCM before the store, opened for the engine only.

Invariants:
- A private key reaches the store only sealed: ``enc:v1:`` + base64(nonce ‖ ciphertext ‖ tag),
  a fresh 96-bit nonce per value, the certificate id as associated data (a sealed key copied
  to another row does not open). The certificate PEM itself is public and stays clear.
- A stored value without the prefix is a clear-text key from before sealing existed: it still
  opens (returned as is), and ``open_sealer`` seals every such row at start, in one
  transaction, so clear keys do not outlive the first start of this version.
- The master key is 32 bytes: ``OPENCLB_MASTER_KEY`` (the standard base64 of 32 bytes) or,
  without it, ``<data-dir>/master.key`` (the same text, mode 0600), made on the first start of
  a store that holds no sealed key yet. The store keeps a sealed check value
  (``store_meta.master_key_check``); a key that cannot open it, or no key at all for a store
  that has one, stops the start with ``MasterKeyError`` before anything is served.
- Only the composition root builds a sealer and hands it on: to the handlers (``Services``),
  which seal uploads, and to the desired-state builder, which opens keys into the engine's
  frozen spec. The engine never sees the master key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from openclb.store.store import Store

log = logging.getLogger("openclb.secrets")

PREFIX = "enc:v1:"
KEY_BYTES = 32
NONCE_BYTES = 12
CHECK_NAME = "master_key_check"
_CHECK_PLAINTEXT = b"openclb master key check v1"
_CHECK_CONTEXT = "store_meta/" + CHECK_NAME
KEY_FORMAT = "the standard base64 of 32 random bytes (e.g. `openssl rand -base64 32`)"


class MasterKeyError(Exception):
    """The master key is malformed, missing for a store that needs one, or not this store's key."""


def is_sealed(stored: str) -> bool:
    return stored.startswith(PREFIX)


def parse_master_key(text: str, origin: str) -> bytes:
    """The 32 bytes ``text`` encodes; ``origin`` names where it came from in the error."""
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise MasterKeyError(f"{origin} must be {KEY_FORMAT}.")
    return key


class PrivateKeySealer:
    """Seals and opens private-key PEMs with one master key (AES-256-GCM).

    ``key_id`` names the master key without revealing it (16 hex digits of an HMAC keyed by it):
    state snapshots carry it, so an import can tell whether their sealed keys open here.
    """

    def __init__(self, master_key: bytes) -> None:
        self._aead = AESGCM(master_key)
        self.key_id = hmac.new(master_key, b"openclb master key id v1", hashlib.sha256).hexdigest()[:16]

    def __repr__(self) -> str:
        return "PrivateKeySealer(<master key hidden>)"

    def seal(self, cert_id: str, pem: str) -> str:
        return self._seal(_context(cert_id), pem.encode())

    def open(self, cert_id: str, stored: str) -> str:
        """The clear PEM of a stored key (sealed, or clear from before sealing existed)."""
        if not is_sealed(stored):
            return stored
        return self._open(_context(cert_id), stored).decode()

    def check_value(self) -> str:
        """A sealed constant the store keeps: proves at the next start that the key is the same."""
        return self._seal(_CHECK_CONTEXT, _CHECK_PLAINTEXT)

    def opens_check(self, stored: str) -> bool:
        try:
            return self._open(_CHECK_CONTEXT, stored) == _CHECK_PLAINTEXT
        except MasterKeyError:
            return False

    def _seal(self, context: str, plaintext: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def _open(self, context: str, stored: str) -> bytes:
        try:
            raw = base64.b64decode(stored[len(PREFIX):], validate=True)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], context.encode())
        except (InvalidTag, binascii.Error, ValueError):
            raise MasterKeyError("A sealed value does not open with this master key.") from None


def _context(cert_id: str) -> str:
    return "certificates.key_pem/" + cert_id


def read_key_file(path: Path) -> bytes | None:
    """The key in ``path`` (made owner-only if it was not), or None when there is no such file."""
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise MasterKeyError(f"The master key file {path} cannot be read: {type(exc).__name__}.") from None
    if path.stat().st_mode & 0o077:
        os.chmod(path, 0o600)
    return parse_master_key(text, f"The master key file {path}")


def create_key_file(path: Path) -> bytes:
    """A new random key in a new file, mode 0600 from its creation (never wider)."""
    key = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    log.info("master key created", extra={"path": str(path)})
    return key


def open_sealer(store: Store, env_key: str | None, key_file: Path, read_only: bool = False) -> PrivateKeySealer:
    """The sealer of ``store``: its master key found and checked against the store, clear rows sealed.

    ``env_key`` (OPENCLB_MASTER_KEY) wins over ``key_file``. A store that holds sealed keys and
    no key to open them, or a key that does not open what the store holds, raises
    MasterKeyError. A store with nothing sealed yet gets ``key_file`` made on its first start.
    ``read_only`` (``openclb render``) writes nothing: no key file, no check value, no sealing.
    """
    check = store.get_meta(CHECK_NAME)
    stored_keys = store.private_keys()
    needs_key = check is not None or any(is_sealed(value) for value in stored_keys.values())
    if env_key is not None:
        master_key, origin = parse_master_key(env_key, "OPENCLB_MASTER_KEY"), "OPENCLB_MASTER_KEY"
    else:
        master_key, origin = read_key_file(key_file), str(key_file)
    if master_key is None:
        if needs_key:
            raise MasterKeyError(
                f"This store's TLS private keys are encrypted, and there is no master key to open them: "
                f"set OPENCLB_MASTER_KEY or restore {key_file}."
            )
        if read_only:
            return PrivateKeySealer(AESGCM.generate_key(bit_length=KEY_BYTES * 8))
        master_key = create_key_file(key_file)
    sealer = PrivateKeySealer(master_key)
    _check_key(sealer, check, stored_keys, origin)
    if not read_only:
        if check is None and not sealer.opens_check(store.put_meta_once(CHECK_NAME, sealer.check_value())):
            raise _wrong_key(origin)
        _seal_clear_rows(sealer, store, stored_keys)
    return sealer


def _wrong_key(origin: str) -> MasterKeyError:
    return MasterKeyError(
        f"The master key from {origin} is not the key this store's TLS private keys were encrypted with; "
        "start with the original OPENCLB_MASTER_KEY or master.key."
    )


def _check_key(sealer: PrivateKeySealer, check: str | None, stored_keys: dict[str, str], origin: str) -> None:
    """The key opens the store's check value, or (none yet) the first sealed key."""
    if check is not None:
        if not sealer.opens_check(check):
            raise _wrong_key(origin)
        return
    for cert_id, value in _sealed(stored_keys):
        try:
            sealer.open(cert_id, value)
        except MasterKeyError:
            raise _wrong_key(origin) from None
        return


def _sealed(stored_keys: dict[str, str]) -> Iterable[tuple[str, str]]:
    return ((cert_id, value) for cert_id, value in stored_keys.items() if is_sealed(value))


def _seal_clear_rows(sealer: PrivateKeySealer, store: Store, stored_keys: dict[str, str]) -> None:
    """Clear-text keys stored before sealing existed are sealed now, in one transaction."""
    clear = {cert_id: (value, sealer.seal(cert_id, value))
             for cert_id, value in stored_keys.items() if not is_sealed(value)}
    if clear:
        store.replace_private_keys(clear)
        log.info("clear-text private keys sealed", extra={"count": len(clear)})
