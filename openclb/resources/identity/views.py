"""The caller's identity as sts answers it for a root account's key."""

from __future__ import annotations

from typing import Any


def root_account_arn(owner_uin: str) -> str:
    """``qcs::cam::uin/<uin>:uin/<uin>``: the CAM resource name of a root account."""
    return f"qcs::cam::uin/{owner_uin}:uin/{owner_uin}"


def caller_identity(owner_uin: str) -> dict[str, Any]:
    """Every key of an openclb account acts as the account's root: AccountId, UserId and PrincipalId
    are its OwnerUin (``accounts.json``, stable for the life of the account)."""
    return {
        "Arn": root_account_arn(owner_uin),
        "AccountId": owner_uin,
        "UserId": owner_uin,
        "PrincipalId": owner_uin,
        "Type": "RootAccount",
    }
