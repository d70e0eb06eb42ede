"""``kith mail fetch`` against a real IMAP server: a dovecot this file starts itself, with
its own configuration in a temporary directory (its own base_dir, a passwd-file user, a
maildir, a free port on 127.0.0.1, plain-text login allowed there, no systemd).

scripts/test installs Debian's ``dovecot-imapd`` when dovecot is missing and it runs as
root; without dovecot these tests fail under CI=true and are skipped elsewhere, saying so.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kith.sdk.testing import run_worker_until_idle, throwaway_plugin

USER, PASSWORD = "ann", "s3cret"


@dataclass
class Dovecot:
    port: int
    log: Path

    def connect(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def new_folder(self) -> str:
        """A folder of its own for one test, so tests share the server, not messages."""
        name = f"test-{uuid.uuid4().hex[:8]}"
        client = self.connect()
        try:
            assert client.create(name)[0] == "OK"
        finally:
            client.logout()
        return name

    def append(self, folder: str, raw: bytes, flags: str | None = None) -> None:
        client = self.connect()
        try:
            status, data = client.append(folder, flags, None, raw)
            assert status == "OK", data
        finally:
            client.logout()

    def flags(self, folder: str) -> list[str]:
        """The flags of each message in ``folder``, in order."""
        client = self.connect()
        try:
            client.select(folder)
            status, data = client.fetch("1:*", "(FLAGS)")
            if status != "OK" or data == [None]:
                return []
            return [item.decode() for item in data if isinstance(item, bytes)]
        finally:
            client.logout()

    def count(self, folder: str) -> int:
        client = self.connect()
        try:
            status, data = client.select(folder)
            return int(data[0]) if status == "OK" and data[0] is not None else 0
        finally:
            client.logout()


def _dovecot() -> str:
    found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None)
    if found is None:
        reason = "dovecot is missing: install Debian's dovecot-imapd (scripts/test does, as root)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the IMAP tests")
        pytest.skip(reason)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _config(root: Path, port: int) -> str:
    if os.geteuid() == 0:  # dovecot's own users, as the package made them; mail as "dovecot"
        login_user, internal_user, mail_user = "dovenull", "root", "dovecot"
        chroot = ""
    else:  # everything as the user running the tests
        me = pwd.getpwuid(os.getuid()).pw_name
        login_user = internal_user = mail_user = me
        chroot = "  chroot =\n"
    account = pwd.getpwnam(mail_user)
    home = root / "home"
    home.mkdir()
    os.chown(home, account.pw_uid, account.pw_gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
mail_location = maildir:{home}/%u/Maildir
first_valid_uid = {account.pw_uid}
default_login_user = {login_user}
default_internal_user = {internal_user}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={account.pw_uid} gid={account.pw_gid} home={home}/%u
}}
service imap-login {{
{chroot}  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
{chroot}}}
"""


@pytest.fixture(scope="module")
def dovecot() -> Iterator[Dovecot]:
    binary = _dovecot()
    root = Path(tempfile.mkdtemp(prefix="kith-dovecot-"))  # not under pytest's 0700 tmp: dovecot's users read it
    root.chmod(0o755)
    port = _free_port()
    config = root / "dovecot.conf"
    config.write_text(_config(root, port))
    process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    server = Dovecot(port, root / "dovecot.log")
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                server.connect().logout()
                break
            except (OSError, imaplib.IMAP4.error):
                if process.poll() is not None or time.monotonic() > deadline:
                    output = process.stdout.read().decode() if process.stdout else ""
                    log = server.log.read_text() if server.log.exists() else ""
                    pytest.fail(f"dovecot did not start:\n{output}\n{log}")
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


def imap_settings(server: Dovecot, folder: str, **more: Any) -> dict[str, Any]:
    return {
        "imap_host": "127.0.0.1",
        "imap_port": server.port,
        "imap_username": USER,
        "imap_password": PASSWORD,
        "imap_folder": folder,
        "imap_security": "none",
        **more,
    }


def mail(n: int) -> bytes:
    return (
        f"From: Customer {n} <c{n}@client.example>\r\nTo: support@acme.example\r\nSubject: Question {n}\r\n"
        f"Message-ID: <q{n}@client.example>\r\n\r\nQuestion number {n}.\r\n"
    ).encode()


async def test_fetch_stores_unseen_messages_then_marks_them_seen(dovecot: Dovecot, make_kith: Any) -> None:
    from kith.core.mail.imap import fetch_once

    folder = dovecot.new_folder()
    dovecot.append(folder, mail(1))
    dovecot.append(folder, mail(2))
    dovecot.append(folder, mail(3), flags="(\\Seen)")  # read by a person already: not fetched
    offered: list[str] = []

    def kith_mail_received(message):  # type: ignore[no-untyped-def]
        offered.append(message.subject)
        return "ticket:1"

    kith = await make_kith(
        plugins=[throwaway_plugin("tickets", kith_mail_received)], enable=["tickets"], **imap_settings(dovecot, folder)
    )
    fetched = await fetch_once(kith)
    assert (fetched.read, fetched.stored, fetched.known, fetched.failed) == (2, 2, 0, 0)
    assert all("\\Seen" in flags for flags in dovecot.flags(folder))
    rows = await kith.db.execute("SELECT source, subject FROM kith_mail_inbound ORDER BY id")
    assert [(r["source"], r["subject"]) for r in rows] == [("imap", "Question 1"), ("imap", "Question 2")]
    await run_worker_until_idle(kith)
    assert offered == ["Question 1", "Question 2"]
    again = await fetch_once(kith)
    assert (again.read, again.stored) == (0, 0)


async def test_a_message_not_marked_after_storing_is_fetched_again_and_not_stored_twice(
    dovecot: Dovecot, make_kith: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kith.core.mail import imap

    folder = dovecot.new_folder()
    dovecot.append(folder, mail(4))
    kith = await make_kith(**imap_settings(dovecot, folder))
    real_done = imap.Mailbox.done

    def crash(self: imap.Mailbox, uid: str) -> None:
        raise ConnectionResetError("the connection dropped after the message was stored")

    monkeypatch.setattr(imap.Mailbox, "done", crash)
    with pytest.raises(ConnectionResetError):
        await imap.fetch_once(kith)
    assert all("\\Seen" not in flags for flags in dovecot.flags(folder))  # still unseen on the server
    monkeypatch.setattr(imap.Mailbox, "done", real_done)
    fetched = await imap.fetch_once(kith)
    assert (fetched.read, fetched.stored, fetched.known) == (1, 0, 1)
    rows = await kith.db.execute("SELECT COUNT(*) AS n FROM kith_mail_inbound")
    assert rows[0]["n"] == 1
    assert all("\\Seen" in flags for flags in dovecot.flags(folder))


async def test_fetched_messages_can_be_moved_to_another_folder(dovecot: Dovecot, make_kith: Any) -> None:
    from kith.core.mail.imap import fetch_once

    folder, done = dovecot.new_folder(), dovecot.new_folder()
    dovecot.append(folder, mail(5))
    kith = await make_kith(**imap_settings(dovecot, folder, imap_move_to=done))
    fetched = await fetch_once(kith)
    assert fetched.stored == 1
    assert (dovecot.count(folder), dovecot.count(done)) == (0, 1)


async def test_a_wrong_password_is_one_clear_error(dovecot: Dovecot, make_kith: Any) -> None:
    from kith.core.mail.imap import ImapError, fetch_once

    kith = await make_kith(**imap_settings(dovecot, "INBOX", imap_password="wrong"))
    with pytest.raises(ImapError, match=r"cannot open 127\.0\.0\.1:\d+/INBOX: .*AUTHENTICATIONFAILED"):
        await fetch_once(kith)


def test_kith_mail_fetch_once(dovecot: Dovecot, kith_cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = dovecot.new_folder()
    dovecot.append(folder, mail(6))
    for name, value in imap_settings(dovecot, folder).items():
        monkeypatch.setenv(f"KITH_{name.upper()}", str(value))
    result = kith_cli("mail", "fetch", "--once")
    assert result.exit_code == 0, result.output
    assert f"Fetched 1 message(s) from 127.0.0.1/{folder}: 1 new, 0 already stored, 0 failed" in result.output
    listed = kith_cli("mail", "list")
    assert "Question 6" in listed.output and "imap" in listed.output
