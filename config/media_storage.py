"""Where uploads (lists' logos) are kept: `MEDIA_STORAGE_URL`.

Blank, the default, keeps them in `MEDIA_ROOT` (`var/media/`) on this host, served by the app at
`/media/logos/…`: right for `make run` and a single web host. With several web and worker hosts
every one of them must see the same files, so production names an S3-compatible bucket (AWS S3,
Cloudflare R2, DigitalOcean Spaces, MinIO) through django-storages:

    s3://BUCKET?region=eu-west-1
    s3://BUCKET?endpoint_url=https://ACCOUNT.r2.cloudflarestorage.com&public_url=https://media.example.com

Credentials come the way every AWS tool reads them (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,
a profile, or the host's role), never from this URL, so it can be printed.

Mail links to a logo for as long as the mail sits in an inbox, so the links are plain public
addresses (no signed query string that expires in an hour), and an upload never replaces an
object in place: a new logo gets a new name, and mail already sent keeps showing the old one.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from config.environment import ConfigurationError

LOCAL_STORAGE = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
S3_BACKEND = "storages.backends.s3.S3Storage"

# Objects are never overwritten (file_overwrite off), so caches may keep them for good.
_IMMUTABLE = "public, max-age=31536000, immutable"
_OPTIONS = {"endpoint_url", "public_url", "region", "location", "acl"}


def media_storage_read(url: str, *, name: str = "MEDIA_STORAGE_URL") -> dict[str, Any]:
    """The STORAGES["default"] entry that `url` describes; the local folder for a blank one."""
    url = url.strip()
    if not url:
        return dict(LOCAL_STORAGE)
    parts = urlsplit(url)
    if parts.scheme != "s3":
        raise ConfigurationError(
            f"{name} must be blank (the local folder) or s3://BUCKET?…; got scheme "
            f"{parts.scheme or '(none)'!r}."
        )
    if parts.username or parts.password:
        raise ConfigurationError(
            f"{name} must not carry credentials: set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or give the host a role) instead."
        )
    bucket = parts.hostname or ""
    if not bucket:
        raise ConfigurationError(f"{name} names no bucket: write s3://BUCKET.")
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = sorted(set(query) - _OPTIONS)
    if unknown:
        raise ConfigurationError(
            f"{name} has unknown option(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(_OPTIONS))}."
        )
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "querystring_auth": False,
        "file_overwrite": False,
        "object_parameters": {"CacheControl": _IMMUTABLE},
    }
    for key in ("endpoint_url", "public_url"):
        value = query.get(key, "")
        if value and urlsplit(value).scheme not in {"http", "https"}:
            raise ConfigurationError(f"{name}'s {key} must start with http:// or https://.")
    if query.get("endpoint_url"):
        options["endpoint_url"] = query["endpoint_url"]
    if query.get("region"):
        options["region_name"] = query["region"]
    if query.get("location"):
        options["location"] = query["location"].strip("/")
    if query.get("acl"):
        options["default_acl"] = query["acl"]
    public = query.get("public_url", "")
    if public:
        # django-storages builds "<url_protocol>//<custom_domain>/<key>": a public base is split
        # into the two, so a CDN or the bucket's public host (R2's r2.dev) serves the logos.
        public_parts = urlsplit(public.rstrip("/"))
        options["url_protocol"] = f"{public_parts.scheme}:"
        options["custom_domain"] = f"{public_parts.netloc}{public_parts.path}"
    return {"BACKEND": S3_BACKEND, "OPTIONS": options}
