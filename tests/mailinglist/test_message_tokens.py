"""One MAC per digest message: each link opens its own purpose only, for its own reader."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from mailinglist import message_tokens, reader_links, return_path, tokens
from mailinglist.models import MailingList, Subscriber
from mailinglist.return_path import Kind, Ref
from tests.factories import MailingListFactory, SubscriberFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("_bounce_address")]
DIGEST = 31


@pytest.fixture
def _bounce_address(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "bounces@news.example"


@pytest.fixture
def reader() -> Subscriber:
    return SubscriberFactory.create()


@pytest.fixture
def morning() -> MailingList:
    return MailingListFactory.create(slug="morning")


def _signed(
    reader: Subscriber, mailing_list: MailingList, day: int | None = None
) -> message_tokens.DigestTokens:
    return message_tokens.digest_tokens_make(
        subscriber_id=reader.pk,
        public_id=reader.public_id,
        list_id=mailing_list.pk,
        digest_id=DIGEST,
        return_paths=True,
        day=day,
    )


def _address(token: str) -> str:
    return return_path.address_with_token(token)


def _unsubscribes(token: str) -> reader_links.UnsubscribeLink | None:
    try:
        return reader_links.unsubscribe_link_read(token=token, digest_param=None)
    except tokens.TokenInvalid:
        return None


def test_each_purpose_reads_back_its_own_slice(reader: Subscriber, morning: MailingList) -> None:
    signed = _signed(reader, morning)

    assert _unsubscribes(signed.unsubscribe) == reader_links.UnsubscribeLink(
        subscriber=reader, mailing_list=morning, from_digest=DIGEST
    )
    assert reader_links.preferences_link_read(token=signed.preferences) == reader
    assert return_path.signed_ref_read(_address(signed.bounce)) == Ref(
        "b", reader.pk, morning.pk, DIGEST
    )
    assert return_path.signed_ref_read(_address(signed.mailto)) == Ref(
        "u", reader.pk, morning.pk, DIGEST
    )


def test_a_slice_moved_to_another_purpose_is_refused(
    reader: Subscriber, morning: MailingList
) -> None:
    signed = _signed(reader, morning)
    pid_and_fields, _, unsubscribe_mac = signed.unsubscribe.rpartition(".")
    preferences_mac = signed.preferences.rpartition(".")[2]
    verp_fields, _, bounce_mac = signed.bounce.rpartition(".")
    mailto_mac = signed.mailto.rpartition(".")[2]

    # The preference link's slice on the unsubscribe page, and the other way round.
    assert _unsubscribes(f"{pid_and_fields}.{preferences_mac}") is None
    assert reader_links.preferences_link_read(token=f"{pid_and_fields}.{unsubscribe_mac}") is None
    # The return path's slice as a mailto: unsubscribe (what a bounce relay would try), and back.
    assert return_path.signed_ref_read(_address(f"u{verp_fields[1:]}.{bounce_mac}")) is None
    assert return_path.signed_ref_read(_address(f"b{verp_fields[1:]}.{mailto_mac}")) is None
    # A return path's kind changed, its own slice kept.
    assert return_path.signed_ref_read(_address(f"u{signed.bounce[1:]}")) is None


@pytest.mark.parametrize("field", [1, 2, 3])  # list, digest, day
def test_a_changed_field_of_a_link_is_refused(
    reader: Subscriber, morning: MailingList, field: int
) -> None:
    signed = _signed(reader, morning)
    for token, accepts in (
        (signed.unsubscribe, lambda t: _unsubscribes(t) is not None),
        (signed.preferences, lambda t: reader_links.preferences_link_read(token=t) is not None),
    ):
        parts = token.split(".")
        parts[field] = f"{int(parts[field], 16) - 1:x}"
        assert accepts(token) and not accepts(".".join(parts))


def test_another_readers_public_id_does_not_open_the_link(
    reader: Subscriber, morning: MailingList
) -> None:
    other = SubscriberFactory.create()
    signed = _signed(reader, morning)
    swapped = other.public_id + signed.unsubscribe.removeprefix(reader.public_id)

    assert _unsubscribes(swapped) is None
    assert (
        reader_links.preferences_link_read(
            token=other.public_id + signed.preferences.removeprefix(reader.public_id)
        )
        is None
    )


ids = st.integers(min_value=0, max_value=2**59)


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(subscriber=ids, list_id=ids, digest=ids, day=st.integers(0, 2**32 - 1), data=st.data())
def test_any_changed_field_of_a_return_path_is_refused(
    subscriber: int, list_id: int, digest: int, day: int, data: st.DataObject
) -> None:
    signed = message_tokens.digest_tokens_make(
        subscriber_id=subscriber,
        public_id="p",
        list_id=list_id,
        digest_id=digest,
        return_paths=True,
        day=day,
    )
    signed_by_kind: tuple[tuple[str, Kind], ...] = ((signed.bounce, "b"), (signed.mailto, "u"))
    for token, kind in signed_by_kind:
        address = _address(token)
        assert address == address.lower()
        assert return_path.signed_ref_read(address) == Ref(kind, subscriber, list_id, digest)
        fields = token[1:].split(".")
        which = data.draw(st.integers(0, 3))
        flipped = int(fields[which], 16) ^ (1 << data.draw(st.integers(0, 30)))  # one bit
        fields[which] = f"{flipped:x}"
        assert return_path.signed_ref_read(_address(kind + ".".join(fields))) is None


@given(
    subscriber=st.integers(0, 2**32 - 1),
    list_id=st.integers(0, 2**16 - 1),
    digest=st.integers(0, 2**32 - 1),
    day=st.integers(0, 2**16 - 1),  # until the year 2149
)
def test_a_return_path_fits_a_local_part(
    subscriber: int, list_id: int, digest: int, day: int
) -> None:
    signed = message_tokens.digest_tokens_make(
        subscriber_id=subscriber,
        public_id="p",
        list_id=list_id,
        digest_id=digest,
        return_paths=True,
        day=day,
    )
    # RFC 5321's 64 octets, with "bounces+": four billion readers and digests, 65,536 lists.
    for token in (signed.bounce, signed.mailto):
        assert len(_address(token).partition("@")[0]) <= 64


@given(text=st.text(max_size=120))
def test_no_text_breaks_the_readers(text: str) -> None:
    assert message_tokens.web_token_read(text) is None or message_tokens.is_web_token(text)
    ref = return_path.signed_ref_read(f"bounces+{text}@news.example")
    assert ref is None or isinstance(ref, Ref)


def test_a_key_rotated_away_still_verifies_from_the_fallbacks(
    reader: Subscriber, morning: MailingList, settings: Any
) -> None:
    settings.SECRET_KEY = "the-key-these-links-were-made-with"
    signed = _signed(reader, morning)

    settings.SECRET_KEY = "the-new-key"
    settings.SECRET_KEY_FALLBACKS = ["the-key-these-links-were-made-with"]
    assert _unsubscribes(signed.unsubscribe) is not None
    assert reader_links.preferences_link_read(token=signed.preferences) == reader
    assert return_path.signed_ref_read(_address(signed.bounce)) is not None

    settings.SECRET_KEY_FALLBACKS = []
    assert _unsubscribes(signed.unsubscribe) is None
    assert reader_links.preferences_link_read(token=signed.preferences) is None
    assert return_path.signed_ref_read(_address(signed.bounce)) is None


def test_preference_links_expire_and_unsubscribing_never_does(
    reader: Subscriber, morning: MailingList
) -> None:
    lifetime = tokens.PREFERENCES_LIFETIME.days
    today = message_tokens.today()
    still = _signed(reader, morning, day=today - lifetime)
    expired = _signed(reader, morning, day=today - lifetime - 1)
    ancient = _signed(reader, morning, day=today - 20 * 365)

    assert reader_links.preferences_link_read(token=still.preferences) == reader
    assert reader_links.preferences_link_read(token=expired.preferences) is None
    assert _unsubscribes(ancient.unsubscribe) is not None
    assert return_path.signed_ref_read(_address(ancient.mailto)) is not None


def test_links_sent_before_keep_working_beside_the_new_ones(
    reader: Subscriber, morning: MailingList
) -> None:
    unsubscribe = tokens.unsubscribe_token_make(public_id=reader.public_id, list_id=morning.pk)
    preferences = tokens.preferences_token_make(public_id=reader.public_id)
    ids = {"subscriber_id": reader.pk, "list_id": morning.pk, "digest_id": DIGEST}

    assert reader_links.unsubscribe_link_read(
        token=unsubscribe, digest_param=str(DIGEST)
    ) == reader_links.UnsubscribeLink(subscriber=reader, mailing_list=morning, from_digest=DIGEST)
    assert reader_links.preferences_link_read(token=preferences) == reader
    assert return_path.signed_ref_read(return_path.bounce_address(**ids)) == Ref("b", **ids)
    mailto = return_path.unsubscribe_mailto(**ids).removeprefix("mailto:").partition("?")[0]
    assert return_path.signed_ref_read(mailto) == Ref("u", **ids)


def test_an_erased_readers_link_is_a_calm_no_op(reader: Subscriber, morning: MailingList) -> None:
    signed = _signed(reader, morning)
    reader.delete()

    assert _unsubscribes(signed.unsubscribe) == reader_links.UnsubscribeLink(None, None, None)
    assert reader_links.preferences_link_read(token=signed.preferences) is None


def test_a_web_token_has_one_spelling(reader: Subscriber, morning: MailingList) -> None:
    signed = _signed(reader, morning)

    assert _unsubscribes(signed.unsubscribe.upper()) is None
    assert _unsubscribes(signed.unsubscribe + "\n") is None
    assert _unsubscribes(signed.unsubscribe.replace(".", ".0", 1)) is None  # a leading zero
    assert return_path.signed_ref_read(_address(signed.bounce.replace(".", ".0", 1))) is None
