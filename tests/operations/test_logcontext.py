"""Log lines name the digest and batch they are about, in JSON or text, through the real LOGGING."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import pytest

from config.observability import logging_config
from operations.logcontext import log_context

logger = logging.getLogger("newsletters.delivery.batch")


@pytest.fixture
def configured() -> Iterator[Callable[[str], io.StringIO]]:
    """Applies the product's LOGGING for a format, writing to a buffer; puts pytest's back after."""
    root = logging.getLogger()
    django_logger = logging.getLogger("django")
    saved = (root.handlers[:], root.level, django_logger.handlers[:], django_logger.level)

    def configure(log_format: str) -> io.StringIO:
        stream = io.StringIO()
        config = logging_config(log_format=log_format)
        config["handlers"]["console"]["stream"] = stream
        logging.config.dictConfig(config)
        return stream

    yield configure
    root.handlers[:], django_logger.handlers[:] = saved[0], saved[2]
    root.setLevel(saved[1])
    django_logger.setLevel(saved[3])


def _lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_lines_carry_the_digest_and_batch_a_task_works_on(
    configured: Callable[[str], io.StringIO],
) -> None:
    stream = configured("json")

    with log_context(digest_id=42, batch="1-200"):
        logger.info("Sent %s messages", 20, extra={"server": "smtp.example.com"})
    logger.info("Outside any batch")

    inside, outside = (json.loads(line) for line in _lines(stream))
    assert inside["message"] == "Sent 20 messages"
    assert (inside["level"], inside["logger"]) == ("INFO", "newsletters.delivery.batch")
    assert (inside["digest_id"], inside["batch"], inside["server"]) == (
        42,
        "1-200",
        "smtp.example.com",
    )
    assert datetime.fromisoformat(inside["time"]).utcoffset() is not None
    assert "digest_id" not in outside and "batch" not in outside


def test_a_json_line_with_a_traceback_is_still_one_line(
    configured: Callable[[str], io.StringIO],
) -> None:
    stream = configured("json")

    with log_context(digest_id=7):
        try:
            raise RuntimeError("the server hung up")
        except RuntimeError:
            logger.exception("Batch failed")

    [line] = _lines(stream)
    record = json.loads(line)
    assert record["digest_id"] == 7 and "RuntimeError: the server hung up" in record["exc_info"]


def test_contexts_nest_and_an_explicit_extra_wins(configured: Callable[[str], io.StringIO]) -> None:
    stream = configured("json")

    with log_context(digest_id=1):
        with log_context(batch="201-400"):
            logger.warning("inner")
        logger.warning("outer", extra={"digest_id": 2})

    inner, outer = (json.loads(line) for line in _lines(stream))
    assert (inner["digest_id"], inner["batch"]) == (1, "201-400")
    assert outer["digest_id"] == 2 and "batch" not in outer


def test_another_thread_does_not_see_a_context(configured: Callable[[str], io.StringIO]) -> None:
    stream = configured("json")

    with log_context(digest_id=5):
        thread = threading.Thread(target=lambda: logger.warning("elsewhere"))
        thread.start()
        thread.join()

    assert "digest_id" not in json.loads(_lines(stream)[0])


def test_text_lines_end_with_the_ids_and_a_traceback_stays_last(
    configured: Callable[[str], io.StringIO],
) -> None:
    stream = configured("text")

    with log_context(digest_id=42, batch="1-200"):
        logger.info("Sent %s messages", 20)
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            logger.exception("Batch failed")
    logger.info("No ids here")

    lines = _lines(stream)
    assert lines[0].endswith(
        "INFO newsletters.delivery.batch: Sent 20 messages [digest_id=42 batch=1-200]"
    )
    assert lines[1].endswith("Batch failed [digest_id=42 batch=1-200]")
    assert (lines[2], lines[-2]) == ("Traceback (most recent call last):", "RuntimeError: boom")
    assert lines[-1].endswith("No ids here")
