"""The counting sink: accepts every message, counts it, keeps none; as fast as a sink can be.

aiosmtpd costs more CPU per message than the sender a send benchmark would be measuring
(docs/performance.md has the figures), so it cannot be the limit there. This is one asyncio
Protocol in its own process: a reply per command line, and in DATA mode a search for the end
marker across the received chunks, nothing else (no parsing, no storing). It speaks enough ESMTP
for smtplib and the product's pipelined transport: EHLO/HELO (advertising PIPELINING), MAIL,
RCPT, DATA, RSET, NOOP, QUIT. Pipelined commands need nothing special: each complete line in a
chunk is answered in order.

Two extra verbs, for the benchmarks, on the same port: `XSTATS` answers `250 {json}` (messages,
bytes, connections, recipients, the sink's own CPU seconds...) and `XRESET` starts new counters.

`CountingSink` runs it in a child process (`python -m devtools.smtp_sink --mode count`), so
its CPU is its own and it never competes with the bench for the GIL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_END = b"\r\n.\r\n"
_EHLO = (
    b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 104857600\r\n"
    b"250 ENHANCEDSTATUSCODES\r\n"
)
_MAX_LINE = 4096


@dataclass
class Counters:
    """What the sink saw since the last XRESET."""

    epoch: int = 0
    started: float = field(default_factory=time.time)
    cpu_started: float = field(default_factory=time.process_time)
    messages: int = 0
    size_bytes: int = 0
    connections_opened: int = 0
    connections_used: int = 0  # connections that carried at least one message since the reset
    rcpts: int = 0
    reads: int = 0  # data_received calls: how finely the kernel handed the bytes over
    recipients: set[bytes] = field(default_factory=set)
    first_message_at: float | None = None
    last_message_at: float | None = None

    def as_dict(self, *, open_connections: int) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "bytes": self.size_bytes,
            "connections_opened": self.connections_opened,
            "connections_used": self.connections_used,
            "connections_open": open_connections,
            "rcpts": self.rcpts,
            "reads": self.reads,
            "distinct_recipients": len(self.recipients),
            "first_message_at": self.first_message_at,
            "last_message_at": self.last_message_at,
            "cpu_s": time.process_time() - self.cpu_started,
            "wall_s": time.time() - self.started,
            "pid": os.getpid(),
        }


class _Sink:
    def __init__(self) -> None:
        self.counters = Counters()
        self.open_connections = 0

    def reset(self) -> None:
        self.counters = Counters(epoch=self.counters.epoch + 1)


class _Session(asyncio.Protocol):
    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.in_data = False
        self.tail = b""  # the last bytes of DATA seen, so the end marker may straddle chunks
        self.size = 0
        self.epoch = -1
        self.opened_epoch = sink.counters.epoch
        self.control = False  # a benchmark's XSTATS/XRESET connection, not a sender's
        self.rcpt: bytes = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.sink.open_connections += 1
        self.sink.counters.connections_opened += 1
        transport.write(b"220 bench-sink ESMTP\r\n")

    def connection_lost(self, exc: Exception | None) -> None:
        self.sink.open_connections -= 1

    def data_received(self, data: bytes) -> None:
        self.sink.counters.reads += 1
        while data:
            data = self._data(data) if self.in_data else self._commands(data)

    def _data(self, data: bytes) -> bytes:
        # The marker is CRLF "." CRLF; the first CRLF may already have arrived (self.tail), and
        # right after DATA the message's own start counts as a line start.
        probe = self.tail + data
        at = probe.find(_END)
        if at < 0:
            self.size += len(data)
            self.tail = probe[-4:]
            return b""
        end = at + len(_END) - len(self.tail)  # index in `data` just after the marker
        self.size += end
        self.in_data = False
        self._message_done()
        return data[end:]

    def _message_done(self) -> None:
        counters = self.sink.counters
        now = time.time()
        counters.messages += 1
        counters.size_bytes += self.size - 3  # without the final ".\r\n"
        if counters.first_message_at is None:
            counters.first_message_at = now
        counters.last_message_at = now
        if self.epoch != counters.epoch:
            self.epoch = counters.epoch
            counters.connections_used += 1
        counters.recipients.add(self.rcpt)
        assert self.transport is not None
        self.transport.write(b"250 2.0.0 Ok: queued\r\n")

    def _commands(self, data: bytes) -> bytes:
        self.buffer += data
        while not self.in_data:
            at = self.buffer.find(b"\r\n")
            if at < 0:
                if len(self.buffer) > _MAX_LINE:
                    self._reply(b"500 5.5.2 Line too long\r\n")
                    self.buffer = b""
                return b""
            line, self.buffer = self.buffer[:at], self.buffer[at + 2 :]
            self._command(line)
        rest, self.buffer = self.buffer, b""
        return rest

    def _reply(self, text: bytes) -> None:
        assert self.transport is not None
        self.transport.write(text)

    def _command(self, line: bytes) -> None:
        verb = line[:4].upper()
        if verb == b"MAIL":
            self._reply(b"250 2.1.0 Ok\r\n")
        elif verb == b"RCPT":
            self.sink.counters.rcpts += 1
            self.rcpt = line[8:].strip()
            self._reply(b"250 2.1.5 Ok\r\n")
        elif verb == b"DATA":
            self.in_data = True
            self.tail = b"\r\n"
            self.size = 0
            self._reply(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"EHLO":
            self._reply(_EHLO)
        elif verb in (b"HELO", b"RSET", b"NOOP"):
            self._reply(b"250 2.0.0 Ok\r\n")
        elif verb == b"QUIT":
            self._reply(b"221 2.0.0 Bye\r\n")
            assert self.transport is not None
            self.transport.close()
        elif line.upper() in (b"XSTATS", b"XRESET"):
            self._control(line.upper())
        else:
            self._reply(b"502 5.5.2 Command not implemented\r\n")

    def _control(self, verb: bytes) -> None:
        counters = self.sink.counters
        if not self.control:
            # Not a sender's connection: take it out of the count it went into.
            self.control = True
            if self.opened_epoch == counters.epoch:
                counters.connections_opened -= 1
        if verb == b"XRESET":
            self.sink.reset()
            self._reply(b"250 2.0.0 Reset\r\n")
        else:
            stats = counters.as_dict(open_connections=self.sink.open_connections)
            self._reply(b"250 " + json.dumps(stats).encode() + b"\r\n")


async def counting_serve(port: int) -> None:
    """Serve until SIGTERM or SIGINT; `PORT <n>` on stdout once listening."""
    sink = _Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: _Session(sink), host="127.0.0.1", port=port, backlog=128, reuse_address=True
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"PORT {bound}", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


class CountingSink:
    """The counting sink in a child process, with its counters read over its own port."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devtools.smtp_sink", "--mode", "count", "--port", "0"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # "" if it died
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the SMTP sink did not start (said {line!r})")
        self.port = int(line.split()[1])

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def _ask(self, verb: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as conn:
            reader = conn.makefile("rb")
            reader.readline()  # greeting
            conn.sendall(verb + b"\r\nQUIT\r\n")
            answer = reader.readline()
            reader.readline()
        if not answer.startswith(b"250 "):
            raise RuntimeError(f"the SMTP sink answered {verb!r} with {answer!r}")
        return answer[4:].strip()

    def stats(self) -> dict[str, Any]:
        """Counters since the last reset (not counting this query's own connection)."""
        result: dict[str, Any] = json.loads(self._ask(b"XSTATS"))
        return result

    def reset(self) -> None:
        self._ask(b"XRESET")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
