"""Mail the inbound tests hand over: a real-shaped DSN (RFC 3464) and ARF report (RFC 5965).

Written out as Postfix and a feedback loop write them, so the entry point has something true to
chew on; these tests assert on the handing over, not on what a message means.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from email.utils import format_datetime

_ORIGINAL = """\
Return-Path: <{return_path}>
From: News <news@news.example.com>
To: {to}
Subject: Today's stories
Message-ID: <{token}@news.example.com>
Content-Type: text/plain; charset=utf-8

The stories of the day.
"""

_DSN = """\
{delivered_to}From: Mail Delivery System <MAILER-DAEMON@mx.example.net>
To: {to}
Subject: Undelivered Mail Returned to Sender
Date: {date}
Message-ID: <{token}@mx.example.net>
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="{token}"

--{token}
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not be
delivered to one or more recipients.

<{failed}>: host mx.example.net said: 550 {status} Recipient unknown

--{token}
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
Arrival-Date: {date}

Final-Recipient: rfc822; {failed}
Original-Recipient: rfc822;{failed}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; 550 {status} <{failed}>: Recipient address rejected

--{token}
Content-Type: message/rfc822

{original}
--{token}--
"""

_ARF = """\
From: Feedback Loop <fbl@isp.example.net>
To: {to}
Subject: FW: Today's stories
Date: {date}
Message-ID: <{token}@isp.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="{token}"

--{token}
Content-Type: text/plain; charset=us-ascii

This is an email abuse report for an email message received from our user.

--{token}
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Rcpt-To: <{complainer}>
Arrival-Date: {date}

--{token}
Content-Type: message/rfc822

{original}
--{token}--
"""


def _crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def dsn_make(*, to: str, failed: str, status: str = "5.1.1", delivered_to: str = "") -> bytes:
    """A delivery status notification to `to` (the return path) saying mail to `failed` did
    not arrive (5.x.x: failed, 4.x.x: delayed); Delivered-To as the filing MTA writes it."""
    token = secrets.token_hex(8)
    return _crlf(
        _DSN.format(
            delivered_to=f"Delivered-To: {delivered_to}\n" if delivered_to else "",
            to=to,
            failed=failed,
            status=status,
            action="failed" if status.startswith("5") else "delayed",
            date=format_datetime(datetime.now(UTC)),
            token=token,
            original=_ORIGINAL.format(return_path=to, to=failed, token=token),
        )
    )


def arf_make(*, to: str, complainer: str, return_path: str) -> bytes:
    """An abuse report (a feedback loop's "this is spam") on a message to `complainer`."""
    token = secrets.token_hex(8)
    return _crlf(
        _ARF.format(
            to=to,
            complainer=complainer,
            date=format_datetime(datetime.now(UTC)),
            token=token,
            original=_ORIGINAL.format(return_path=return_path, to=complainer, token=token),
        )
    )
