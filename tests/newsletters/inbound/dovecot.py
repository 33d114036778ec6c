"""A private dovecot for the mailbox poller's tests: IMAP and POP3 over TLS on free ports.

Its own configuration, run and state directories, log and mail live in a temporary directory;
nothing of the system's dovecot (if one runs) is read or touched. Users are lines in a
passwd-file, one fresh user per test, so tests never see each other's mail. Mail is put in the
way an MTA's delivery agent does it: a file in the user's Maildir/new.

Dovecot refuses mail access as root ("Mail access not allowed for root"). Run as root (as in CI),
its own processes use the Debian package's `dovecot` and `dovenull` users (its defaults) and the
mail belongs to `nobody`; run as anyone else, everything runs as and belongs to that user.
"""

from __future__ import annotations

import getpass
import itertools
import mailbox
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from config.deliverability import MailboxConfig
from devtools.ports import free_port
from tests.newsletters.inbound.certs import ServerCertificate, server_certificate_make

DOVECOT = Path("/usr/sbin/dovecot")
INSTALL_HINT = (
    "dovecot is not installed: run `apt-get install dovecot-imapd dovecot-pop3d` (.ci/run does)"
)
START_SECONDS = 15.0

_CONFIG = """\
# A private dovecot for the test suite (tests/newsletters/inbound/dovecot.py).
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
instance_name = newsdesk-test-{pid}
protocols = imap pop3
listen = 127.0.0.1
{users}
first_valid_uid = 1
first_valid_gid = 1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain
# A wrong password is answered at once, not after dovecot's default 2 s.
auth_failure_delay = 0
# A passwd-file per user (one line each): a new user is a new file, where lines added to one
# file within a second can go unseen (dovecot re-reads a file when its mtime changes).
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
userdb {{
  driver = passwd-file
  args = username_format=%u {root}/users/%u
}}
# No growing delay for logins from an address after a failed one (the wrong-password tests):
# auth gives up its penalty tracking when it cannot reach this socket.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = {imaps_port}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = 0
  }}
  inet_listener pop3s {{
    port = {pop3s_port}
    ssl = yes
  }}
}}
"""


@dataclass(frozen=True)
class MailOwner:
    uid: int
    gid: int


def _mail_owner() -> tuple[MailOwner, str]:
    """Who owns the mail, and the dovecot settings naming its own users."""
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        return MailOwner(uid=nobody.pw_uid, gid=nobody.pw_gid), ""
    me = getpass.getuser()
    users = f"default_internal_user = {me}\ndefault_login_user = {me}"
    return MailOwner(uid=os.getuid(), gid=os.getgid()), users


@dataclass
class MailboxUser:
    """One user's mailbox: put mail in, see what is left, and the BOUNCE_MAILBOX to reach it."""

    server: Dovecot
    name: str
    password: str

    @property
    def maildir(self) -> Path:
        return self.server.root / "mail" / self.name / "Maildir"

    def append(self, raw: bytes) -> None:
        """Deliver `raw` (with CRLF or LF line ends) as an MTA's delivery agent would."""
        key = mailbox.Maildir(self.maildir, create=False).add(raw)
        owner = self.server.owner
        os.chown(self.maildir / "new" / key, owner.uid, owner.gid)

    def messages(self) -> list[bytes]:
        """The messages still in the mailbox (one flagged deleted but not expunged counts)."""
        box = mailbox.Maildir(self.maildir, create=False)
        return sorted(box.get_bytes(key) for key in box.iterkeys())

    def config(
        self, scheme: str = "imaps", *, password: str | None = None, folder: str = "INBOX"
    ) -> MailboxConfig:
        port = self.server.imaps_port if scheme == "imaps" else self.server.pop3s_port
        return MailboxConfig(
            scheme=scheme,
            host="127.0.0.1",
            port=port,
            username=self.name,
            password=self.password if password is None else password,
            folder=folder,
        )


@dataclass
class Dovecot:
    root: Path
    imaps_port: int
    pop3s_port: int
    certificate: ServerCertificate
    owner: MailOwner
    _numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def user_add(self) -> MailboxUser:
        """A new user with an empty INBOX."""
        user = MailboxUser(
            server=self, name=f"bounces{next(self._numbers)}", password=secrets.token_hex(8)
        )
        home = self.root / "mail" / user.name
        home.mkdir()
        mailbox.Maildir(home / "Maildir", create=True)
        for path in (home, *home.rglob("*")):
            os.chown(path, self.owner.uid, self.owner.gid)
        owner = self.owner
        (self.root / "users" / user.name).write_text(
            f"{user.name}:{{PLAIN}}{user.password}:{owner.uid}:{owner.gid}::{home}::\n"
        )
        return user

    def log_tail(self, lines: int = 30) -> str:
        path = self.root / "dovecot.log"
        return "\n".join(path.read_text().splitlines()[-lines:]) if path.exists() else ""


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def dovecot_running() -> Iterator[Dovecot]:
    """A private dovecot, stopped and its directory removed on the way out."""
    # Not pytest's tmp_path: its parents are private to us, and dovecot's login processes run
    # as another user that must reach the sockets in base_dir.
    root = Path(tempfile.mkdtemp(prefix="newsdesk-dovecot-"))
    root.chmod(0o755)
    owner, users = _mail_owner()
    (root / "mail").mkdir()
    os.chown(root / "mail", owner.uid, owner.gid)
    (root / "users").mkdir()
    server = Dovecot(
        root=root,
        imaps_port=free_port(),
        pop3s_port=free_port(),
        certificate=server_certificate_make(directory=root),
        owner=owner,
    )
    (root / "dovecot.conf").write_text(
        _CONFIG.format(
            root=root,
            pid=os.getpid(),
            users=users,
            cert=server.certificate.cert_file,
            key=server.certificate.key_file,
            imaps_port=server.imaps_port,
            pop3s_port=server.pop3s_port,
        )
    )
    # -F: in the foreground, so stopping this process stops dovecot and its children.
    with (root / "stderr.log").open("wb") as stderr:
        process = subprocess.Popen(
            [str(DOVECOT), "-F", "-c", str(root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (_listening(server.imaps_port) and _listening(server.pop3s_port)):
            if process.poll() is not None or time.monotonic() > deadline:
                said = (root / "stderr.log").read_text(errors="replace")
                raise RuntimeError(f"dovecot did not start:\n{said}\n{server.log_tail()}")
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
