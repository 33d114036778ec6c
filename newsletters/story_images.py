"""A story image's width and height, read from the image itself, for the digest's <img>.

Mail clients lay a message out before its images arrive; an <img> with both dimensions keeps its
place, so the text does not jump when the picture loads (and Outlook, which ignores CSS sizes,
draws it at the right height). Stories name their images by URL, so a worker reads just enough
of each image to learn its size, once per address: Pillow knows it from the header, which is the
first few hundred bytes of a PNG, GIF or WebP and usually the first few kilobytes of a JPEG.

A story saves without waiting for this, and an image that cannot be read is simply sent without
a height, as before; nothing about a story is refused because its picture host is slow.
"""

from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from http.client import HTTPException
from typing import Any

from django.conf import settings
from django.db import transaction
from PIL import Image, ImageFile

from newsletters.models import Story
from operations.http_fetch import is_web_url, web_only_opener

logger = logging.getLogger(__name__)

# Far more than any header needs; an image whose size is not known by then is not measured.
HEADER_MAX_BYTES = 512 * 1024
MEASURE_TIMEOUT = 10.0
# Larger than any real photograph; a header claiming more is a broken or hostile file.
MAX_SIDE = 20_000


class ImageUnreadable(Exception):
    """The image could not be fetched, or its size could not be read; the message says why."""


def image_size_read(
    url: str, *, timeout: float = MEASURE_TIMEOUT, max_bytes: int = HEADER_MAX_BYTES
) -> tuple[int, int]:
    """(width, height) of the image at `url`, reading no more of it than its header needs."""
    if not is_web_url(url):
        raise ImageUnreadable("Only http(s) images are measured.")
    request = urllib.request.Request(  # noqa: S310  (http(s) checked above)
        url,
        headers={
            "User-Agent": f"Newsdesk image check (+{settings.SITE_URL})",
            "Accept": "image/*",
            "Accept-Encoding": "identity",
            # Servers that honour it send only the start; the rest ignore it, and we stop early.
            "Range": f"bytes=0-{max_bytes - 1}",
        },
    )
    opener = web_only_opener(ImageUnreadable)
    try:
        with opener.open(request, timeout=timeout) as response:
            # Raw, not get_content_type(): a missing header must not read as text/plain.
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if kind.startswith("text/") or kind.endswith(("json", "xml")):
                raise ImageUnreadable(f"Not an image: the server says {kind}.")
            return _size_from(response, timeout=timeout, max_bytes=max_bytes)
    except urllib.error.HTTPError as error:
        error.close()
        raise ImageUnreadable(f"HTTP {error.code} {error.reason}".strip()) from None
    except (OSError, HTTPException, ValueError) as error:  # URLError, timeouts, bad URLs
        reason = error.reason if isinstance(error, urllib.error.URLError) else error
        raise ImageUnreadable(f"{type(reason).__name__}: {reason}") from None


def _size_from(response: Any, *, timeout: float, max_bytes: int) -> tuple[int, int]:
    parser = ImageFile.Parser()
    deadline = time.monotonic() + timeout
    read = 0
    while read < max_bytes and time.monotonic() < deadline:
        chunk = response.read1(min(16 * 1024, max_bytes - read))
        if not chunk:
            break
        read += len(chunk)
        try:
            parser.feed(chunk)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
            raise ImageUnreadable(f"Not an image Pillow can read: {error}") from None
        if parser.image is not None:
            width, height = parser.image.size
            if not (0 < width <= MAX_SIDE and 0 < height <= MAX_SIDE):
                raise ImageUnreadable(f"An implausible size: {width} x {height}.")
            return width, height
    raise ImageUnreadable(f"Not an image Pillow can size from its first {read:,} bytes.")


def story_image_measure(*, story_id: int) -> tuple[int, int] | None:
    """Read the size of the story's image and keep it, unless its image changed meanwhile."""
    story = Story.objects.filter(pk=story_id).only("image_url").first()
    if story is None or not story.image_url:
        return None
    try:
        size = image_size_read(story.image_url)
    except ImageUnreadable as unreadable:
        logger.info("Story %s: image not measured (%s)", story_id, unreadable)
        return None
    # Conditional: an editor may have put another image there while this one was read.
    Story.objects.filter(pk=story_id, image_url=story.image_url).update(
        image_width=size[0], image_height=size[1]
    )
    return size


def story_image_changed(story: Story) -> None:
    """Forget the old image's size and have a worker read the new one's, after the commit.

    Call it before saving a story whose image URL changed (or a new story with an image)."""
    story.image_width = story.image_height = None
    if story.image_url:
        from newsletters.tasks import measure_story_image

        transaction.on_commit(lambda: measure_story_image.delay(story.pk), robust=True)
