"""DKIM's price: microseconds to sign one real digest message, and the signed send's rate.

Two parts, about two minutes together:
1. `dkim_sign_ed25519` and `dkim_sign_rsa2048`: the per-message cost of `DkimSigner.sign` on
   the real per-reader bytes of a 15-story digest (~30 KB; send_setup.messages_build), median of
   5 runs over 200 readers' messages; `dkim_unsigned_overhead` is what `message_sign` adds to
   a message when no key is aligned (the cost for every installation without DKIM).
2. `dkim_send_rate`: send_path.py run in a child process with an Ed25519 key configured
   (DKIM_DOMAIN etc. in its environment, so its workers sign every message) — its raw smtplib
   limit and its signed end-to-end send, alternately, in the same run; the figure is the signed
   send's rate with its ratio to that raw limit (target >= 0.8), beside the same send unsigned
   (a twin child run just before: the machine's own send/raw ratio, and the signed/unsigned
   rate). The sink's bytes per message are checked to include a signature, so an unsigned send
   can never pass for a signed one.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import send_setup
from benchmarks.report import figure, median
from devtools.workers import ROOT

if TYPE_CHECKING:
    from operations.dkim.keys import Algorithm

READERS = 200
RUNS = 5
DOMAIN = "news.example.com"  # send_setup's DEFAULT_FROM_EMAIL is at this domain


def _log(message: str) -> None:
    print(f"[dkim_sign] {message}", file=sys.stderr, flush=True)


def _per_message_us(sign: Any, messages: list[bytes]) -> list[float]:
    runs = []
    for _ in range(RUNS):
        started = time.perf_counter()
        for raw in messages:
            sign(raw)
        runs.append((time.perf_counter() - started) / len(messages) * 1e6)
    return runs


def _signing(database: str) -> None:
    from operations.dkim.keys import key_generate
    from operations.dkim.selection import message_sign
    from operations.dkim.signing import DkimSigner

    mailing_list = send_setup.mailing_list_create()
    send_setup.subscribers_create(mailing_list=mailing_list, n=READERS)
    # 15 stories: ~30 KB, a long edition (the send below uses send_path's 10, ~21 KB).
    digest = send_setup.digest_create(mailing_list=mailing_list, stories=15)
    _, prepared = send_setup.messages_build(digest=digest, count=READERS)
    messages = [raw for _, raw in prepared]
    size = len(messages[0])
    algorithms: list[tuple[str, Algorithm]] = [
        ("dkim_sign_ed25519", "ed25519"),
        ("dkim_sign_rsa2048", "rsa"),
    ]
    for name, algorithm in algorithms:
        signer = DkimSigner(
            domain=DOMAIN, selector="bench", private_key=key_generate(algorithm=algorithm)
        )
        runs = _per_message_us(signer.sign, messages)
        figure(
            name,
            n=len(messages),
            value=round(median(runs), 1),
            unit="us/msg",
            runs=[round(run, 1) for run in runs],
            message_bytes=size,
            database=database,
            note="DkimSigner.sign on real per-reader digest bytes (body hash, header "
            "canonicalisation, signature); one core",
        )
    runs = _per_message_us(lambda raw: message_sign(raw=raw), messages)
    figure(
        "dkim_unsigned_overhead",
        n=len(messages),
        value=round(median(runs), 2),
        unit="us/msg",
        message_bytes=size,
        database=database,
        note="message_sign with no key configured: what the transport's hook costs without DKIM",
    )


def _send_path(*, n: int, repeat: int, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    child = subprocess.run(
        [sys.executable, "-m", "benchmarks.send_path", "--n", str(n), "--repeat", str(repeat)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in child.stdout.splitlines() if line.startswith("{")]
    return {line["bench"]: line for line in lines}


def _signed_send(*, n: int, repeat: int, tmp: Path) -> None:
    from operations.dkim.keys import key_generate, key_pem

    key_path = tmp / "dkim-ed25519.pem"
    key_path.write_text(key_pem(key=key_generate(algorithm="ed25519")))
    unsigned_env = {
        name: value for name, value in os.environ.items() if not name.startswith("DKIM_")
    }
    signed_env = {
        **unsigned_env,
        "DKIM_DOMAIN": DOMAIN,
        "DKIM_SELECTOR": "bench",
        "DKIM_PRIVATE_KEY_FILE": str(key_path),
    }
    # The unsigned twin, same size and runs, so a slow or busy machine shows as slow in both.
    _log(f"send_path unsigned, then with an Ed25519 key: {n} readers, {repeat} runs each")
    unsigned = _send_path(n=n, repeat=repeat, env=unsigned_env)
    found = _send_path(n=n, repeat=repeat, env=signed_env)
    raw, send = found["smtp_raw_rate"], found["send_rate"]
    added = send["sink_bytes_per_msg"] - raw["message_bytes"]
    if added < 200:  # an Ed25519 DKIM-Signature header is ~400 bytes
        raise RuntimeError(f"the signed send's messages are only {added} bytes longer: unsigned?")
    figure(
        "dkim_send_rate",
        n=send["n"],
        value=send["value"],
        unit="msgs/s",
        ratio_to="smtp_raw_rate",
        ratio=send["ratio"],
        target="ratio >= 0.8",
        raw_rate=raw["value"],
        runs=send["runs"],
        pair_ratios=send["pair_ratios"],
        unsigned_rate=unsigned["send_rate"]["value"],
        unsigned_ratio=unsigned["send_rate"]["ratio"],
        signed_to_unsigned=round(send["value"] / unsigned["send_rate"]["value"], 3),
        signature_bytes=added,
        worker_cpu_ms_per_msg=found["send_worker_cpu_per_msg"]["value"],
        unsigned_worker_cpu_ms_per_msg=unsigned["send_worker_cpu_per_msg"]["value"],
        database=send["database"],
        concurrency=send["concurrency"],
        note="send_path's end-to-end send with every message signed (Ed25519) against its raw "
        "smtplib limit in the same run; beside it the same send unsigned, run just before",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="readers of the signed send")
    parser.add_argument("--repeat", type=int, default=2, help="runs of the signed send")
    parser.add_argument("--no-send", action="store_true", help="the signing costs only")
    args = parser.parse_args()
    with (
        send_setup.bench_database(base_url=None) as database,
        tempfile.TemporaryDirectory(prefix="newsdesk-dkim-") as tmp,
    ):
        env = send_setup.product_env(
            database_url=database.url, email_url="smtp://127.0.0.1:1", debug=False
        )
        send_setup.django_setup(env, migrate=True)
        _signing(database.vendor)
        if not args.no_send:
            _signed_send(n=args.n, repeat=args.repeat, tmp=Path(tmp))


if __name__ == "__main__":
    main()
