"""Where logos are kept: the local folder by default, an S3-compatible bucket every host sees
with MEDIA_STORAGE_URL. The bucket test talks S3 over HTTP to a real server process (moto's
S3-compatible server), as the product would to S3, R2 or MinIO."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped]
import pytest

from config.environment import ConfigurationError
from config.media_storage import LOCAL_STORAGE, S3_BACKEND, media_storage_read
from mailinglist.branding import brand_of
from mailinglist.models import MailingList
from tests.config.settings_process import PRODUCTION, python_run
from tests.factories import MailingListFactory, logo_png

BUCKET = "newsroom-media"
# moto accepts any credentials; boto3 must find some, as it would on a real host.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}


def test_blank_keeps_logos_in_the_local_folder() -> None:
    assert media_storage_read("") == LOCAL_STORAGE
    assert media_storage_read("  ") == LOCAL_STORAGE


def test_a_bucket_gets_public_permanent_never_overwritten_objects() -> None:
    entry = media_storage_read(
        "s3://media?endpoint_url=https://acct.r2.cloudflarestorage.com"
        "&public_url=https://cdn.example.com/newsroom/&region=auto&location=/uploads/"
    )
    assert entry["BACKEND"] == S3_BACKEND
    options = entry["OPTIONS"]
    assert options["bucket_name"] == "media"
    assert options["endpoint_url"] == "https://acct.r2.cloudflarestorage.com"
    assert options["region_name"] == "auto"
    assert options["location"] == "uploads"
    assert (options["url_protocol"], options["custom_domain"]) == (
        "https:",
        "cdn.example.com/newsroom",
    )
    # Mail shows a logo for years: no link that expires, no object replaced under old mail.
    assert options["querystring_auth"] is False
    assert options["file_overwrite"] is False
    assert "immutable" in options["object_parameters"]["CacheControl"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("gs://media", "scheme 'gs'"),
        ("s3://", "names no bucket"),
        ("s3://key:secret@media", "must not carry credentials"),
        ("s3://media?bucket=other", "unknown option(s) bucket"),
        ("s3://media?endpoint_url=ftp://host", "endpoint_url must start with http"),
    ],
)
def test_a_malformed_storage_url_is_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(ConfigurationError, match="MEDIA_STORAGE_URL") as refused:
        media_storage_read(url)
    assert says in str(refused.value)


def test_start_up_names_the_variable_when_it_is_wrong() -> None:
    started = python_run(
        {**PRODUCTION, "MEDIA_STORAGE_URL": "ftp://media"}, "manage.py", "check", "--deploy"
    )
    assert started.returncode != 0
    assert "MEDIA_STORAGE_URL must be blank (the local folder) or s3://" in started.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = _free_port()
    moto = Path(sys.executable).with_name("moto_server")
    server = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("the S3 server did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def bucket_storage(
    s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **_boto_keys())
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": media_storage_read(
            # The server refuses anonymous reads (403) unless the objects are public: mail
            # readers fetch logos with no credentials. A bucket policy or CDN does it as well.
            f"s3://{BUCKET}?endpoint_url={s3_endpoint}&region=us-east-1&acl=public-read"
        ),
    }
    yield client
    for listed in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=listed["Key"])
    client.delete_bucket(Bucket=BUCKET)


def _boto_keys() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    }


@pytest.mark.django_db
def test_a_logo_uploaded_to_the_bucket_is_what_mail_links_to(
    bucket_storage: Any, s3_endpoint: str
) -> None:
    daily = MailingListFactory.create(slug="daily")
    daily.logo.save("logo.png", logo_png(400, 100))

    stored = bucket_storage.get_object(Bucket=BUCKET, Key=daily.logo.name)
    assert stored["Body"].read()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stored["CacheControl"] == "public, max-age=31536000, immutable"

    brand = brand_of(MailingList.objects.get(pk=daily.pk))
    # A plain address on the bucket, not a signed one that would expire in an inbox.
    assert brand.logo_url == f"{s3_endpoint}/{BUCKET}/{daily.logo.name}"
    assert "Signature" not in brand.logo_url and "X-Amz" not in brand.logo_url
    assert (brand.logo_width, brand.logo_height) == (200, 50)  # Pillow read it on upload
    with urllib.request.urlopen(brand.logo_url, timeout=10) as fetched:  # noqa: S310
        assert fetched.read()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.django_db
def test_a_new_logo_never_replaces_the_one_sent_mail_shows(bucket_storage: Any) -> None:
    daily = MailingListFactory.create(slug="daily")
    daily.logo.save("logo.png", logo_png(400, 100))
    first = daily.logo.name
    daily.logo.save("logo.png", logo_png(300, 100))

    assert daily.logo.name != first
    keys = {o["Key"] for o in bucket_storage.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {first, daily.logo.name} <= keys
