"""The private-key sealer: AES-256-GCM values bound to their certificate, clear values of old stores.

A sealed value opens only with its master key and under its own certificate id (a value
moved to another row, or altered by one character, does not open); each sealing uses a new
nonce; a stored value without the ``enc:v1:`` prefix is a clear key from before sealing and
opens as it is. The master key is the standard base64 of exactly 32 bytes.
"""

from __future__ import annotations

import base64
import os

import pytest

from openclb.resources.certificates.sealing import MasterKeyError, PrivateKeySealer, parse_master_key

PEM = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n"


def test_seal_then_open_same_certificate_round_trip_fresh_nonce():
    sealer = PrivateKeySealer(os.urandom(32))

    first, second = sealer.seal("cert-a", PEM), sealer.seal("cert-a", PEM)

    assert first.startswith("enc:v1:") and "PRIVATE KEY" not in first
    assert first != second
    assert sealer.open("cert-a", first) == PEM == sealer.open("cert-a", second)


@pytest.mark.parametrize("change", ["other-certificate", "other-key", "altered"])
def test_open_sealed_value_moved_altered_or_other_key_raises_master_key_error(change):
    key = os.urandom(32)
    sealed = PrivateKeySealer(key).seal("cert-a", PEM)
    cert_id, opener = "cert-a", PrivateKeySealer(key)
    if change == "other-certificate":
        cert_id = "cert-b"
    elif change == "other-key":
        opener = PrivateKeySealer(os.urandom(32))
    else:
        sealed = sealed[:-4] + ("AAAA" if not sealed.endswith("AAAA") else "BBBB")

    with pytest.raises(MasterKeyError):
        opener.open(cert_id, sealed)


def test_open_clear_value_from_older_store_returned_as_is():
    assert PrivateKeySealer(os.urandom(32)).open("cert-a", PEM) == PEM


def test_check_value_opens_with_its_key_only():
    key = os.urandom(32)
    check = PrivateKeySealer(key).check_value()

    assert PrivateKeySealer(key).opens_check(check)
    assert not PrivateKeySealer(os.urandom(32)).opens_check(check)


@pytest.mark.parametrize("text", ["", "not base64", base64.b64encode(b"\x01" * 16).decode(),
                                  base64.b64encode(b"\x02" * 33).decode()])
def test_parse_master_key_not_base64_of_32_bytes_refused(text):
    with pytest.raises(MasterKeyError, match="base64 of 32 random bytes"):
        parse_master_key(text, "OPENCLB_MASTER_KEY")


def test_parse_master_key_base64_of_32_bytes_with_newline_accepted():
    key = os.urandom(32)

    assert parse_master_key(base64.b64encode(key).decode() + "\n", "master.key") == key


def test_sealer_repr_hides_master_key():
    key = os.urandom(32)

    assert base64.b64encode(key).decode() not in repr(PrivateKeySealer(key))
    assert "hidden" in repr(PrivateKeySealer(key))
