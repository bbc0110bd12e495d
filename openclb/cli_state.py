"""``openclb state export|import|reset`` and ``openclb faults inject|list|clear``.

``state`` works on a data dir (``--data-dir``, and ``--store`` when the store is not the data
dir's SQLite), like ``openclb accounts``, or on a running server (``--endpoint``) through the
admin API. On a data dir, ``export`` reads while a server runs; ``import`` and ``reset`` need the
server stopped (they take ``serve.lock`` exclusively and refuse otherwise), and its next start
serves what they wrote. The account is ``--account SECRET_ID``, by default the data dir's
default account (``OPENCLB_SECRET_ID``, else the first key of ``accounts.json``, else the account
the first ``openclb serve`` generates). ``faults`` always talks to a running server started with
``--faults``. With ``--endpoint``, the key is ``--secret-id``/``--secret-key`` or, better (the
process list shows flags), ``OPENCLB_SECRET_ID``/``OPENCLB_SECRET_KEY``.

Exit status: 0 done, 1 refused or misused (the reason on stderr), 2 a master key that does not
open the store.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import sys
from pathlib import Path
from typing import Any

from openclb import errors
from openclb.client import ApiCallError, Client

FAULT_FLAGS = (("--action", str), ("--code", str), ("--message", str), ("--count", int), ("--probability", float),
               ("--seed", int), ("--seconds", float), ("--load-balancer-id", str), ("--listener-id", str),
               ("--location-id", str), ("--ip", str), ("--port", int))


def add_commands(commands) -> None:
    state = commands.add_parser("state", help="export, import or reset an account's resources")
    actions = state.add_subparsers(dest="state_command", required=True)
    export = _where(actions.add_parser("export", help="print the account's state document"))
    export.add_argument("--include-private-keys", action="store_true",
                        help="export private keys in clear (default: sealed with the master key)")
    export.add_argument("--output", default=None, metavar="FILE", help="write here (mode 0600) instead of stdout")
    load = _where(actions.add_parser("import", help="recreate a state document's resources"))
    load.add_argument("file", nargs="?", default="-", help="the document (default: stdin)")
    load.add_argument("--replace", action="store_true", help="reset the account first")
    reset = _where(actions.add_parser("reset", help="remove every resource of the account"))
    reset.add_argument("--all-accounts", action="store_true", help="of every account")

    faults = commands.add_parser("faults", help="inject, list or clear faults on a server started with --faults")
    fault_actions = faults.add_subparsers(dest="faults_command", required=True)
    inject = _endpoint(fault_actions.add_parser("inject", help="arm a fault; prints its FaultId"))
    inject.add_argument("--kind", required=True,
                        choices=["ApiError", "ApiLatency", "TaskFailure", "TaskDelay", "TargetUnhealthy",
                                 "TrafficLatency", "TrafficReset", "DatagramDrop"])
    for flag, kind in FAULT_FLAGS:
        inject.add_argument(flag, type=kind, default=None)
    _endpoint(fault_actions.add_parser("list", help="print the account's faults as JSON"))
    clear = _endpoint(fault_actions.add_parser("clear", help="clear the account's faults (or the ones named)"))
    clear.add_argument("--fault-id", action="append", default=[], dest="fault_ids")


def _endpoint(parser: argparse.ArgumentParser, required: bool = True) -> argparse.ArgumentParser:
    parser.add_argument("--endpoint", required=required, default=None, metavar="URL",
                        help="a running server, e.g. http://127.0.0.1:9180")
    parser.add_argument("--secret-id", default=None, help="default: OPENCLB_SECRET_ID")
    parser.add_argument("--secret-key", default=None, help="default: OPENCLB_SECRET_KEY")
    parser.add_argument("--region", default="ap-guangzhou")
    return parser


def _where(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--data-dir", default=None, help="a data dir (a stopped server's, to import or reset)")
    parser.add_argument("--store", default=None, help="store URL (default: SQLite in the data dir)")
    parser.add_argument("--account", default=None, metavar="SECRET_ID", help="the account a key of it names")
    return _endpoint(parser, required=False)


def run(args: argparse.Namespace) -> int:
    try:
        if args.command == "faults":
            return _faults(args, _client(args))
        if (args.endpoint is None) == (args.data_dir is None):
            raise SystemExit("openclb state: give exactly one of --data-dir and --endpoint")
        if args.endpoint is not None:
            return _state_online(args, _client(args))
        return _state_offline(args)
    except (errors.ApiError, ApiCallError) as exc:
        print(f"openclb: {getattr(exc, 'code', '')}: {exc.message}", file=sys.stderr)
        return 1


def _client(args: argparse.Namespace) -> Client:
    secret_id = args.secret_id or os.environ.get("OPENCLB_SECRET_ID")
    secret_key = args.secret_key or os.environ.get("OPENCLB_SECRET_KEY")
    if not secret_id or not secret_key:
        raise SystemExit("openclb: --endpoint needs a key: OPENCLB_SECRET_ID and OPENCLB_SECRET_KEY (or the flags)")
    return Client(args.endpoint, secret_id, secret_key, args.region)


def _write_document(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
        return
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _read_document(name: str) -> str:
    return sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")


def _state_online(args: argparse.Namespace, client: Client) -> int:
    if args.state_command == "export":
        _write_document(client.call("ExportState", {"IncludePrivateKeys": args.include_private_keys})["State"],
                        args.output)
    elif args.state_command == "import":
        answer = client.call("ImportState", {"State": _read_document(args.file), "Replace": args.replace})
        status = client.wait_for_task(answer["TaskId"])
        if status["Status"] != 0:
            print(f"openclb: the import failed: {status.get('Message') or 'still running'}", file=sys.stderr)
            return 1
        print(f"imported {len(answer['LoadBalancerIds'])} load balancers (task {answer['TaskId']})")
    else:
        removed = client.call("ResetState", {"AllAccounts": args.all_accounts})["LoadBalancerIds"]
        print(f"removed {len(removed)} load balancers")
    return 0


def _faults(args: argparse.Namespace, client: Client) -> int:
    if args.faults_command == "inject":
        params: dict[str, Any] = {"Kind": args.kind}
        for flag, _ in FAULT_FLAGS:
            value = getattr(args, flag[2:].replace("-", "_"))
            if value is not None:
                params["".join(part.title() for part in flag[2:].split("-"))] = value
        print(client.call("InjectFault", params)["FaultId"])
    elif args.faults_command == "list":
        print(json.dumps(client.call("DescribeFaults")["Faults"], indent=2))
    else:
        cleared = client.call("ClearFaults", {"FaultIds": args.fault_ids} if args.fault_ids else {})["FaultIds"]
        print(f"cleared {len(cleared)} faults")
    return 0


def _state_offline(args: argparse.Namespace) -> int:
    from openclb.api.accounts import DEFAULT_APP_ID, read_accounts_file
    from openclb.config import load_settings
    from openclb.resources.certificates.sealing import MasterKeyError, open_sealer
    from openclb.resources.state import queries, snapshots
    from openclb.store.store import Store

    settings = load_settings(data_dir=Path(args.data_dir), store_url=args.store)
    writing = args.state_command != "export"
    if writing:
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    elif not settings.store_url and not (settings.data_dir / "openclb.db").exists():
        print(f"openclb: no store in {settings.data_dir}", file=sys.stderr)
        return 1
    accounts = read_accounts_file(settings.accounts_file)
    app_id = _account(args.account, settings.env_secret_id, accounts, DEFAULT_APP_ID)
    lock = _exclusive(settings.data_dir) if writing else None
    store = Store(settings.effective_store_url)
    try:
        keys = open_sealer(store, settings.master_key, settings.master_key_file, read_only=not writing)
        if args.state_command == "export":
            document = snapshots.export_document(store, keys, app_id, args.include_private_keys)
            _write_document(snapshots.dumps(document), args.output)
        elif args.state_command == "import":
            state = snapshots.import_offline(store, keys, app_id, snapshots.parse(_read_document(args.file)),
                                             args.replace)
            print(f"imported {len(state.load_balancers)} load balancers into {settings.data_dir}")
        else:
            target = None if args.all_accounts else app_id
            removed = queries.load_balancer_ids(store, target)
            queries.delete_state(store, target)
            print(f"removed {len(removed)} load balancers from {settings.data_dir}")
    except MasterKeyError as exc:
        print(f"openclb: {exc}", file=sys.stderr)
        return 2
    finally:
        store.close()
        if lock is not None:
            os.close(lock)
    return 0


def _account(secret_id: str | None, env_secret_id: str | None, accounts: list, default_app_id: int) -> int:
    if secret_id is None:
        if env_secret_id or not accounts:
            return default_app_id
        return accounts[0].app_id
    if secret_id == env_secret_id:
        return default_app_id
    for account in accounts:
        if account.secret_id == secret_id:
            return account.app_id
    raise SystemExit(f"openclb: no key {secret_id} in OPENCLB_SECRET_ID or accounts.json")


def _exclusive(data_dir: Path) -> int:
    """The data dir's ``serve.lock``, held exclusively: no server is running on it."""
    fd = os.open(data_dir / "serve.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise SystemExit(f"openclb: a server is running on {data_dir}: stop it, or use --endpoint") from None
    return fd
