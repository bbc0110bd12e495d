"""Resource ids minted the way the real service mints them: prefix + 8 of [0-9a-z]."""

from __future__ import annotations

import secrets
import string

_ID_ALPHABET = string.digits + string.ascii_lowercase


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def load_balancer_id() -> str:
    return _new_id("lb-")


def listener_id() -> str:
    return _new_id("lbl-")


def location_id() -> str:
    return _new_id("loc-")


def target_group_id() -> str:
    return _new_id("lbtg-")


def customized_config_id() -> str:
    return _new_id("pz-")


def certificate_id() -> str:
    return _new_id("cert-")


def security_group_id() -> str:
    return _new_id("sg-")
