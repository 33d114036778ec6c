"""`python -m devtools.smtp_sink [--mode record|faults|count] [--port N]`: a sink from the shell.

Prints `PORT <n>` once listening (what `CountingSink` waits for), then, in the recording modes,
one line per message accepted; runs until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import threading

from devtools.smtp_sink.counting import counting_serve
from devtools.smtp_sink.recording import SmtpSink


def _record(sink: SmtpSink) -> None:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    sink.start()
    print(f"PORT {sink.port}", flush=True)
    shown = 0
    faults = (0, 0, 0)
    try:
        while not stop.wait(0.2):
            for received in sink.received[shown:]:
                subject = received.message["Subject"]
                print(f"{received.mail_from} -> {', '.join(received.rcpt_tos)}: {subject}")
                shown += 1
            now = (sink.temp_failed, sink.perm_failed, sink.dropped)
            if now != faults:
                faults = now
                print(f"  faults so far: {now[0]} x 451, {now[1]} x 550, {now[2]} dropped")
            sys.stdout.flush()
    finally:
        sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="An SMTP sink for tests and benchmarks.")
    parser.add_argument("--mode", choices=["record", "faults", "count"], default="record")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    faults = parser.add_argument_group("faults (--mode faults; see devtools/smtp_sink/faults.py)")
    faults.add_argument("--temp-fail-first-fraction", type=float, default=0.0)
    faults.add_argument("--temp-fail-attempts", type=int, default=1)
    faults.add_argument("--perm-fail-fraction", type=float, default=0.0)
    faults.add_argument("--drop-fraction", type=float, default=0.0)
    faults.add_argument("--seed", type=int, default=1)
    faults.add_argument("--pipelining", action="store_true", help="advertise PIPELINING")
    faults.add_argument("--sender-reply", default="", help="refuse every MAIL FROM with this")
    args = parser.parse_args()
    if args.mode == "count":
        asyncio.run(counting_serve(args.port))
        return
    if args.mode == "record":
        _record(SmtpSink(port=args.port))
        return
    sink = SmtpSink(
        port=args.port,
        temp_fail_first_fraction=args.temp_fail_first_fraction,
        temp_fail_attempts=args.temp_fail_attempts,
        perm_fail_fraction=args.perm_fail_fraction,
        drop_fraction=args.drop_fraction,
        seed=args.seed,
        pipelining=args.pipelining,
        sender_reply=args.sender_reply,
    )
    with contextlib.suppress(KeyboardInterrupt):
        _record(sink)


if __name__ == "__main__":
    main()
