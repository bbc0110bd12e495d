"""The data dir on disk: owner-only files, and no private key in the SQLite files' bytes.

The data dir is 0700; ``openclb.db``, its ``-wal`` and ``-shm`` and ``master.key`` are 0600,
whether the server made them or an older version left them wider. The bytes of the database
files never hold a private key: uploads are sealed before the store, and clear keys of an
older version are sealed at start with the old bytes overwritten (secure_delete, then the
write-ahead log checkpointed and emptied). ``openclb serve`` with a wrong master key exits
with status 2 and one line that says why, before binding anything.
"""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from pathlib import Path

import sqlalchemy as sa

from backends import accepts_tcp, free_port
from clb_support import create_clb_with_vip, create_listener, make_pki, upload
from conftest import SECRET_ID, SECRET_KEY, make_settings, sdk_client, start_server, unique_vip_pool
from gateway_support import OPENCLB, clean_env, serve_on_own_port

DATABASE_FILES = ("openclb.db", "openclb.db-wal", "openclb.db-shm")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def key_material() -> list[bytes]:
    pki = make_pki()
    lines = [line for key in (pki.rsa.key, pki.ecdsa.key) for line in key.splitlines() if "-----" not in line]
    return [b"PRIVATE KEY", *(line.encode() for line in lines if len(line) >= 16)]


def database_bytes(data_dir: Path) -> bytes:
    return b"".join((data_dir / name).read_bytes() for name in DATABASE_FILES if (data_dir / name).exists())


def upload_tls_listeners(url: str) -> str:
    client = sdk_client(url)
    lb_id, vip = create_clb_with_vip(client)
    create_listener(client, lb_id, "TCP_SSL", [7743], Certificate=upload("rsa"))
    create_listener(client, lb_id, "HTTPS", [7744], Certificate=upload("ecdsa"))
    return vip


def test_start_fresh_data_dir_0700_database_and_key_files_0600(tmp_path):
    running = start_server(make_settings(tmp_path))
    try:
        upload_tls_listeners(running.url)
        data_dir = tmp_path / "data"

        assert mode(data_dir) == 0o700
        assert {name: mode(data_dir / name) for name in (*DATABASE_FILES, "master.key")} == dict.fromkeys(
            (*DATABASE_FILES, "master.key"), 0o600)
        assert not [fragment for fragment in key_material() if fragment in database_bytes(data_dir)]
    finally:
        running.stop()


def test_start_files_left_wide_by_older_version_made_owner_only(tmp_path):
    settings = make_settings(tmp_path)
    start_server(settings).stop()
    data_dir = tmp_path / "data"
    os.chmod(data_dir, 0o755)
    for name in ("openclb.db", "master.key"):
        os.chmod(data_dir / name, 0o644)

    running = start_server(settings)
    try:
        assert mode(data_dir) == 0o700
        assert {name: mode(data_dir / name) for name in ("openclb.db", "master.key")} == {
            "openclb.db": 0o600, "master.key": 0o600}
        assert all(mode(data_dir / name) == 0o600 for name in DATABASE_FILES if (data_dir / name).exists())
    finally:
        running.stop()


def test_start_clear_keys_of_older_version_sealed_database_bytes_hold_no_key(tmp_path):
    settings = make_settings(tmp_path, vip_pool=unique_vip_pool())
    running = start_server(settings)
    upload_tls_listeners(running.url)
    running.stop()
    data_dir = tmp_path / "data"
    engine = sa.create_engine(f"sqlite:///{data_dir / 'openclb.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE certificates SET key_pem = :clear WHERE key_pem IS NOT NULL"),
                     {"clear": make_pki().rsa.key})
        conn.execute(sa.text("DELETE FROM store_meta"))
    engine.dispose()
    (data_dir / "master.key").unlink()
    assert b"PRIVATE KEY" in database_bytes(data_dir)

    running = start_server(settings)
    try:
        assert not [fragment for fragment in key_material() if fragment in database_bytes(data_dir)]
    finally:
        running.stop()


def test_serve_wrong_master_key_exits_2_with_reason_before_binding(tmp_path):
    process = serve_on_own_port(tmp_path)
    process.start()
    vip = upload_tls_listeners(process.url)
    process.stop()
    port = free_port()
    env = clean_env(tmp_path, OPENCLB_SECRET_ID=SECRET_ID, OPENCLB_SECRET_KEY=SECRET_KEY,
                    OPENCLB_MASTER_KEY=base64.b64encode(os.urandom(32)).decode())

    finished = subprocess.run(
        [OPENCLB, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(tmp_path / "data"),
         "--metrics-listen", "off"],
        env=env, capture_output=True, text=True, timeout=60,
    )

    assert finished.returncode == 2, finished.stderr
    assert "cannot start: The master key from OPENCLB_MASTER_KEY is not the key" in finished.stderr
    assert "Traceback" not in finished.stderr and "openclb serving" not in finished.stdout
    assert not accepts_tcp("127.0.0.1", port) and not accepts_tcp(vip, 7743)
