"""Accounts: which SecretId belongs to which AppId/OwnerUin, and the file that keeps them.

Keys come from two places: ``OPENCLB_SECRET_ID``/``OPENCLB_SECRET_KEY`` define the default
account, and ``accounts.json`` in the data dir holds any number more (written atomically,
mode 0600, because it holds secret keys). Every resource is stored under the account a key
resolves to, so two keys of one account see the same CLBs and two accounts see nothing of
each other's.
"""

from __future__ import annotations

import json
import os
import secrets
import string
from dataclasses import asdict
from pathlib import Path

from openclb.api.auth import Account

DEFAULT_APP_ID = 1250000000
DEFAULT_OWNER_UIN = "100000000001"
_ALNUM = string.ascii_letters + string.digits


def generate_account(app_id: int | None = None, owner_uin: str | None = None) -> Account:
    """A fresh key pair shaped like Tencent's (AKID + 32, key 32), with a new account id if none given."""
    uin = owner_uin or str(100000000000 + secrets.randbelow(899999999999))
    return Account(
        secret_id="AKID" + "".join(secrets.choice(_ALNUM) for _ in range(32)),
        secret_key="".join(secrets.choice(_ALNUM) for _ in range(32)),
        app_id=app_id or 1250000000 + secrets.randbelow(9999999),
        owner_uin=uin,
    )


def read_accounts_file(path: Path) -> list[Account]:
    if not path.exists():
        return []
    data = json.loads(path.read_text(encoding="utf-8"))
    return [Account(**entry) for entry in data.get("accounts", [])]


def write_accounts_file(path: Path, accounts: list[Account]) -> None:
    """Replace the file atomically; it is created 0600 and never exists with wider rights."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"accounts": [asdict(a) for a in accounts]}, handle, indent=2)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def add_account(
    path: Path,
    secret_id: str,
    secret_key: str,
    app_id: int | None = None,
    owner_uin: str | None = None,
    token: str | None = None,
) -> Account:
    """Add (or replace) a key; a key of an existing account is added by giving its AppId."""
    accounts = [a for a in read_accounts_file(path) if a.secret_id != secret_id]
    if app_id is not None and owner_uin is None:
        owner_uin = next((a.owner_uin for a in accounts if a.app_id == app_id), None)
    fresh = generate_account(app_id, owner_uin)
    account = Account(secret_id, secret_key, fresh.app_id, fresh.owner_uin, token)
    write_accounts_file(path, [*accounts, account])
    return account


def remove_account(path: Path, secret_id: str) -> bool:
    accounts = read_accounts_file(path)
    kept = [a for a in accounts if a.secret_id != secret_id]
    if len(kept) == len(accounts):
        return False
    write_accounts_file(path, kept)
    return True


class AccountRegistry:
    """SecretId → Account, from the environment's default key and the accounts file."""

    def __init__(self, accounts: list[Account], default: Account | None = None) -> None:
        self._by_secret_id = {a.secret_id: a for a in accounts}
        self.default = default or (accounts[0] if accounts else None)

    def lookup(self, secret_id: str) -> Account | None:
        return self._by_secret_id.get(secret_id)

    def lookup_any(self, secret_id: str) -> Account | None:
        """``--auth none``: a known key keeps its account, anything else is the default account."""
        return self.lookup(secret_id) or self.default

    def __len__(self) -> int:
        return len(self._by_secret_id)


def load_registry(
    accounts_file: Path,
    env_secret_id: str | None,
    env_secret_key: str | None,
    env_token: str | None = None,
) -> tuple[AccountRegistry, Account | None]:
    """Build the registry; on a first start with no key anywhere, generate and store one.

    Returns the registry and the generated account (``None`` unless one was just made), so
    the caller can print the new key exactly once.
    """
    accounts = read_accounts_file(accounts_file)
    default = None
    if env_secret_id and env_secret_key:
        default = Account(env_secret_id, env_secret_key, DEFAULT_APP_ID, DEFAULT_OWNER_UIN, env_token)
        accounts = [default, *(a for a in accounts if a.secret_id != env_secret_id)]
    generated = None
    if not accounts:
        generated = generate_account(DEFAULT_APP_ID, DEFAULT_OWNER_UIN)
        write_accounts_file(accounts_file, [generated])
        accounts = [generated]
    return AccountRegistry(accounts, default), generated
