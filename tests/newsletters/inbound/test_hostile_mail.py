"""Property tests: whatever arrives at the bounce address, the entry point answers and never
raises; mail naming no signed address changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailinglist.models import Suppression
from newsletters.inbound.models import InboundEvent
from newsletters.inbound.process import inbound_message_process
from tests.newsletters.inbound.samples import Sent, sent

pytestmark = pytest.mark.django_db
RELAXED = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=200)
_header_names = st.sampled_from(
    ["To", "Delivered-To", "X-Original-To", "Envelope-To", "Subject", "From", "Return-Path"]
)
_content_types = st.sampled_from(
    [
        ("multipart", "report"),
        ("message", "delivery-status"),
        ("message", "feedback-report"),
        ("message", "rfc822"),
        ("text", "rfc822-headers"),
        ("text", "plain"),
    ]
)


def _nothing_applied() -> None:
    assert not InboundEvent.objects.exists()
    assert not Suppression.objects.exists()


@RELAXED
@given(raw=st.binary(max_size=3000), recipients=st.lists(_text, max_size=3))
def test_arbitrary_bytes_are_ignored(raw: bytes, recipients: list[str]) -> None:
    result = inbound_message_process(raw=raw, envelope_recipients=recipients, source="fuzz")

    assert result.kind == "ignored"
    assert result.detail
    _nothing_applied()


@st.composite
def _mime(draw: st.DrawFn) -> bytes:
    headers = draw(st.lists(st.tuples(_header_names, _text), max_size=6))
    maintype, subtype = draw(_content_types)
    boundary = "b" + draw(st.text("abc123", min_size=1, max_size=8))
    parts = draw(st.lists(st.tuples(_content_types, _text), max_size=4))
    lines = [f"{name}: {value}" for name, value in headers]
    lines.append(
        f'Content-Type: {maintype}/{subtype}; report-type=feedback-report; boundary="{boundary}"'
    )
    lines.append("")
    for (part_main, part_sub), body in parts:
        lines += [f"--{boundary}", f"Content-Type: {part_main}/{part_sub}", "", body]
    lines.append(f"--{boundary}--")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


@RELAXED
@given(raw=_mime())
def test_arbitrary_mime_reports_are_ignored(raw: bytes) -> None:
    result = inbound_message_process(raw=raw, source="fuzz")

    assert result.kind == "ignored"
    _nothing_applied()


@pytest.fixture
def reader() -> Sent:
    """One reader for all of a property test's examples (they share the test's transaction)."""
    return sent()


KINDS = {"hard-bounce", "soft-bounce", "delayed", "complaint", "ignored", "duplicate"}


@RELAXED
@given(
    action=st.sampled_from(["failed", "delayed", "delivered", "", "fail\x00ed"]),
    status=_text,
    diagnostic=_text,
    parts=st.lists(st.tuples(_content_types, _text), max_size=3),
)
# Found on PostgreSQL, whose text columns refuse a NUL: the diagnostic went into the event's detail.
@example(action="failed", status="", diagnostic="\x00", parts=[])
def test_a_signed_report_of_any_content_never_raises(
    reader: Sent,
    action: str,
    status: str,
    diagnostic: str,
    parts: list[tuple[tuple[str, str], str]],
) -> None:
    lines = [
        f"To: {reader.return_path}",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"',
        "",
        "--b",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx.example",
        "",
        f"Final-Recipient: rfc822; {reader.subscriber.email}",
        f"Action: {action}",
        f"Status: {status}",
        f"Diagnostic-Code: {diagnostic}",
    ]
    for (main, sub), body in parts:
        lines += ["--b", f"Content-Type: {main}/{sub}", "", body]
    raw = "\r\n".join([*lines, "--b--"]).encode("utf-8", "surrogateescape")

    result = inbound_message_process(raw=raw, source="fuzz")

    assert result.kind in KINDS
    assert result.detail
