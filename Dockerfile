# The one image behind every Newsdesk process: `deploy/procfile-run NAME` runs the Procfile's line
# NAME (web by default), so compose.yaml's services run exactly the Procfile's commands.
#   docker build -t newsdesk .
#   docker run --env-file .env newsdesk /app/deploy/procfile-run worker
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PORT=8000
# gunicorn listens on every interface of the container: the proxy is another container or the host.
ENV WEB_HOST=0.0.0.0

# Processes run as this user, which owns nothing but var/.
RUN groupadd --system --gid 10001 newsdesk \
    && useradd --system --uid 10001 --gid newsdesk --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin newsdesk

WORKDIR /app
# The pinned dependencies first, in a layer of their own, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
RUN python -m venv /opt/venv && pip install .

COPY . .
# Static files are collected into the image as production serves them (WhiteNoise's hashed,
# compressed names). With DEBUG off settings insist on production values; these stand-ins exist
# for this one step, which serves and sends nothing. var/ is the one directory the processes write
# (beat's schedule; the outbox, if EMAIL_URL is left at it).
RUN DEBUG=off \
    SECRET_KEY=collectstatic-only \
    SITE_URL=https://build.invalid \
    MAILING_ADDRESS="collectstatic only" \
    DEFAULT_FROM_EMAIL="Build <build@build.invalid>" \
    python manage.py collectstatic --noinput \
    && mkdir -p var && chown newsdesk:newsdesk var

USER newsdesk
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "deploy/healthcheck.py"]
CMD ["/app/deploy/procfile-run", "web"]
