"""A 10-story digest scores below 0.5 in SpamAssassin (Debian's package, local tests only).

Run it with `apt-get install spamassassin`, then
`make test PYTEST_ARGS=tests/newsletters/test_spam_score.py`; .ci/run installs the package, so CI
runs it. `-L` keeps SpamAssassin to its local rules: no
network lookups (there is no network here, and a test must not depend on one).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from email.utils import formatdate

import pytest

from newsletters import rendering
from newsletters.delivery import messages
from tests.factories import MailingListFactory, SubscriberFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db
# #9's bar for the newsroom design: images, links, a forward link and dark-mode styles included.
MAX_SCORE = 0.5


@pytest.mark.parametrize("language", ["en", "ar"])
def test_a_ten_story_digest_is_not_spam_to_spamassassin(language: str) -> None:
    binary = shutil.which("spamassassin")
    if binary is None:
        pytest.skip(
            "SpamAssassin is not installed: run `apt-get install spamassassin` (.ci/run does)"
        )
    mailing_list = MailingListFactory.create(name="The Morning Briefing", language=language)
    digest = make_digest(stories=10, mailing_list=mailing_list)
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    reader = SubscriberFactory.create(email="reader@example.com", name="Ada")
    raw = messages.message_bytes(
        template=template,
        recipient=messages.recipient_values(template=template, subscriber=reader),
    )
    # A receiving server adds these; SpamAssassin expects to find them.
    # Received now, as the message's own Date says: a stale stamp would score DATE_IN_PAST_*.
    envelope = (
        "Return-Path: <newsletter@localhost>\r\n"
        "Received: from mail.example.org (mail.example.org [93.184.216.34]) by mx.example.com "
        f"with ESMTPS; {formatdate(localtime=False)}\r\n"
    ).encode()

    result = subprocess.run(
        [binary, "-L", "-t"], input=envelope + raw, capture_output=True, timeout=120, check=False
    )

    report = result.stdout.decode("utf-8", errors="replace")
    status = re.search(r"^X-Spam-Status: \w+, score=(-?[\d.]+)", report, re.M)
    assert status, report[:2000]
    score = float(status.group(1))
    assert score < MAX_SCORE, report[report.find("Content analysis details") :][:3000]
