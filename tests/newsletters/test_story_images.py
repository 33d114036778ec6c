"""A story image's size, read from the image by a worker, gives the digest's <img> its height."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from newsletters import story_images
from newsletters.models import Story
from newsletters.rendering import digest_context, digest_render
from newsletters.stories import StoryInput, story_upsert
from newsletters.story_images import ImageUnreadable, image_size_read, story_image_measure
from tests.factories import StoryFactory
from tests.newsletters.digests import make_digest
from tests.newsletters.image_server import (
    ImageServer,
    image_server,
    picture,
    png_header_claiming,
)


@pytest.fixture
def images() -> Iterator[ImageServer]:
    with image_server() as server:
        server.routes.update(
            {
                "/wide.png": (200, {"Content-Type": "image/png"}, picture(1200, 800)),
                "/photo.jpg": (200, {"Content-Type": "image/jpeg"}, picture(640, 960, kind="JPEG")),
                "/anim.gif": (200, {"Content-Type": "image/gif"}, picture(300, 100, kind="GIF")),
                "/page.html": (200, {"Content-Type": "text/html"}, b"<html>no picture</html>"),
                "/to-ftp": (302, {"Location": "ftp://files.example.com/a.png"}, b""),
                "/moved": (301, {"Location": "/wide.png"}, b""),
                "/bomb.png": (200, {}, png_header_claiming(100_000, 10)),
            }
        )
        yield server


@pytest.mark.parametrize(
    ("path", "size"),
    [("/wide.png", (1200, 800)), ("/photo.jpg", (640, 960)), ("/anim.gif", (300, 100))],
)
def test_the_size_is_read_from_the_image(images: ImageServer, path: str, size: Any) -> None:
    assert image_size_read(images.url + path) == size


def test_a_redirect_to_another_picture_is_followed(images: ImageServer) -> None:
    assert image_size_read(images.url + "/moved") == (1200, 800)


def test_only_the_header_of_a_large_image_is_read(images: ImageServer) -> None:
    # A real header, then 16 MB: the reader stops and hangs up long before the end.
    body = picture(2000, 1000) + b"\0" * (16 * 1024 * 1024)
    images.routes["/huge.png"] = (200, {"Content-Type": "image/png"}, body)

    assert image_size_read(images.url + "/huge.png") == (2000, 1000)
    assert images.sent["/huge.png"] < len(body) // 2


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/page.html", "Not an image"),
        ("/missing.png", "HTTP 404"),
        ("/to-ftp", r"non-http\(s\) address: ftp://"),
        ("/bomb.png", "implausible size"),
    ],
)
def test_what_is_not_a_readable_image_says_why(images: ImageServer, path: str, says: str) -> None:
    with pytest.raises(ImageUnreadable, match=says):
        image_size_read(images.url + path)


def test_nothing_listening_is_unreadable_not_an_error() -> None:
    with pytest.raises(ImageUnreadable, match=r"Connection refused|ConnectionRefused"):
        image_size_read("http://127.0.0.1:9/a.png", timeout=2)


def test_only_web_addresses_are_fetched() -> None:
    with pytest.raises(ImageUnreadable, match="http"):
        image_size_read("file:///etc/passwd")


@pytest.mark.django_db
def test_a_measured_size_is_kept_unless_the_image_changed_meanwhile(
    images: ImageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    story = StoryFactory.create(image_url=images.url + "/wide.png")
    assert story_image_measure(story_id=story.pk) == (1200, 800)
    story.refresh_from_db()
    assert (story.image_width, story.image_height) == (1200, 800)

    other = StoryFactory.create(image_url=images.url + "/photo.jpg")
    real_read = story_images.image_size_read

    def editor_changes_it_while_reading(url: str, **kwargs: Any) -> tuple[int, int]:
        Story.objects.filter(pk=other.pk).update(image_url=images.url + "/anim.gif")
        return real_read(url, **kwargs)

    monkeypatch.setattr(story_images, "image_size_read", editor_changes_it_while_reading)
    story_image_measure(story_id=other.pk)
    other.refresh_from_db()
    assert (other.image_width, other.image_height) == (None, None)  # not the old image's size


@pytest.mark.django_db
def test_an_unreadable_image_leaves_the_size_unknown(images: ImageServer) -> None:
    story = StoryFactory.create(image_url=images.url + "/page.html")
    assert story_image_measure(story_id=story.pk) is None
    story.refresh_from_db()
    assert story.image_width is None


def _upsert(*, headline: str, image_url: str) -> Story:
    data = StoryInput(url="https://news.example.com/a", headline=headline, image_url=image_url)
    return story_upsert(data=data, source=Story.Source.API)[0]


@pytest.mark.django_db
def test_a_new_image_forgets_the_old_ones_size_and_asks_for_a_reading(
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks() as asked:
        story = _upsert(headline="A", image_url="https://img.example.com/1.png")
    assert len(asked) == 1
    Story.objects.filter(pk=story.pk).update(image_width=10, image_height=5)

    with django_capture_on_commit_callbacks() as asked:
        _upsert(headline="A, updated", image_url="https://img.example.com/1.png")
    assert asked == []  # the same image: its size stands
    story.refresh_from_db()
    assert (story.image_width, story.image_height) == (10, 5)

    with django_capture_on_commit_callbacks() as asked:
        _upsert(headline="A", image_url="https://img.example.com/2.png")
    assert len(asked) == 1
    story.refresh_from_db()
    assert (story.image_width, story.image_height) == (None, None)


@pytest.mark.django_db
def test_the_digest_draws_a_measured_image_at_its_proportional_height() -> None:
    digest = make_digest(stories=2)
    first, second = [item.story for item in digest.items.order_by("position")]
    Story.objects.filter(pk=first.pk).update(
        image_url="https://img.example.com/1.jpg",
        image_alt="One",
        image_width=1200,
        image_height=800,
    )
    Story.objects.filter(pk=second.pk).update(
        image_url="https://img.example.com/2.jpg", image_alt="Two"
    )

    stories = digest_context(digest=digest)["stories"]
    assert stories[0]["image_height"] == 363  # 544 wide, in proportion: 800 * 544 / 1200
    assert stories[1]["image_height"] is None  # not read yet: no height rather than a wrong one

    html = digest_render(digest=digest).html
    images = {
        alt: tag
        for tag in re.findall(r"<img[^>]*>", html)
        for alt in re.findall(r'alt="(\w+)"', tag)
    }
    assert 'width="544"' in images["One"] and 'height="363"' in images["One"]
    assert 'width="544"' in images["Two"] and "height=" not in images["Two"]
    # The height attribute reserves the space; the inlined CSS still scales it on a phone.
    assert "height: auto" in images["One"]
