"""Settings for the whole product, read top to bottom.

Every value comes from the environment (DESIGN.md §3) and has a safe local default, except in
production: with DEBUG off, SECRET_KEY, SITE_URL, MAILING_ADDRESS and DEFAULT_FROM_EMAIL must be
given, and a missing one stops start-up with a message naming it. `make run` and `make test` turn
DEBUG on for you. Variables in the checkout's `.env` (which `make run` writes) apply where the
environment does not set them.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import django_stubs_ext

from config import broker, celery_schedule, deliverability
from config import environment as env
from config.env_file import env_file_read
from config.environment import ConfigurationError
from config.media_storage import media_storage_read
from config.observability import logging_config, read_log_format, read_metrics_token, sentry_init

django_stubs_ext.monkeypatch()  # admin.ModelAdmin[Model] and friends, subscripted at run time

# --- Paths -------------------------------------------------------------------------------------
BASE_DIR = Path(__file__).resolve().parent.parent
# Everything the embedded defaults write (SQLite, the outbox, a local Redis, beat's schedule) lives
# under var/, which is git-ignored and safe to delete.
VAR_DIR = BASE_DIR / "var"
# Before anything is read: every command (manage.py, the workers, the tests) then sees what
# `make run` sees, and the environment still wins over the file (config/env_file.py).
ENV_FILE = env_file_read(BASE_DIR)

# --- Core --------------------------------------------------------------------------------------
DEBUG = env.read_bool("DEBUG", default=False)

SECRET_KEY = env.read_str("SECRET_KEY", default=None) or ""
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigurationError(
            "SECRET_KEY is required when DEBUG is off. Set SECRET_KEY to a long random string "
            "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'), or DEBUG=on "
            "for local development."
        )
    SECRET_KEY = "insecure-local-development-key-never-use-in-production"  # noqa: S105

PORT = int(env.read_str("PORT", default="8000") or "8000")
# Absolute base for links in mail: a reader's mail client has no request to build URLs from.
SITE_URL = env.read_site_url("SITE_URL", default=f"http://127.0.0.1:{PORT}" if DEBUG else None)
if SITE_URL is None:
    raise ConfigurationError(
        "SITE_URL is required when DEBUG is off: it is the absolute base (e.g. "
        "https://news.example.com) for every link in the mail readers get."
    )

_site_host = urlsplit(SITE_URL).hostname or "localhost"
ALLOWED_HOSTS = env.read_list(
    "ALLOWED_HOSTS",
    default=sorted({_site_host, "localhost", "127.0.0.1", "[::1]"}) if DEBUG else [_site_host],
)
CSRF_TRUSTED_ORIGINS = [SITE_URL]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "ninja",
    # Staff login throttling, and the second factor with its TOTP (authenticator app) devices.
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "audit",
    "mailinglist",
    "newsletters",
    "operations",
    "outbox",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The reader's language: ?lang= from a list's mail (kept in the language cookie), else the
    # cookie, else Accept-Language (with Vary: Accept-Language on the answer, for caches).
    "django.middleware.locale.LocaleMiddleware",
    "operations.languages.LinkLanguageMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this login was completed with a code.
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Staff who need a second factor (STAFF_2FA) give it before any admin page.
    "operations.two_factor.StaffTwoFactorMiddleware",
    # How the sends a Publisher started ended, on their next admin page.
    "newsletters.admin.notices.PublisherNoticeMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its page.
    "axes.middleware.AxesMiddleware",
]

# Static files under gunicorn, in development too (`make run` runs the Procfile's gunicorn): with
# DEBUG on straight from the apps' folders, so no collectstatic is needed and edits show at once;
# with it off from collectstatic's output (hashed, compressed names), read once at start.
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ----------------------------------------------------------------------------------
_default_sqlite = VAR_DIR / "db.sqlite3"
DATABASES = {"default": env.read_database("DATABASE_URL", default=f"sqlite:///{_default_sqlite}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # The web process, workers and beat share one SQLite file: WAL lets readers run beside a
        # writer, IMMEDIATE takes the write lock up front (no deadlock on lock upgrade), and the
        # timeout waits for it instead of failing with "database is locked".
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # A file, not :memory:, so that a Celery worker process in the integration tests sees the
    # rows the test wrote; one per test run, so two runs side by side do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
DATABASES["default"] |= {"ATOMIC_REQUESTS": False}  # health checks: workers, celery_app.py
DATABASES["default"].setdefault("CONN_MAX_AGE", 0 if DEBUG else 60)  # workers too: celery_app.py
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: broker, cache, rate limits ---------------------------------------------------------
REDIS_URL = env.read_redis_url("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "newsdesk",
    }
}

# --- Celery ------------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT = "config.broker:Transport"  # kombu's, mended (config/broker.py)
CELERY_BROKER_USE_SSL = broker.ssl_options(REDIS_URL)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The database records every outcome; Celery's result store would be a second, weaker copy.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Acknowledge after the task ran, and re-queue it if the worker process dies mid-task: a crash
# must cost a retry (which the ledger makes harmless), never a lost send.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# When the broker connection drops, a running batch carries on (its database work does not need
# Redis) and stops by itself if Redis stays away long enough that its claim may lapse
# (newsletters/delivery/claims.py). Cancelling it would kill its pool process mid-message.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
# The Redis transport re-delivers a task that is not acknowledged within visibility_timeout.
# It must exceed the longest a task can run (TASK_TIME_LIMIT, 5 min) so a running task is never
# handed to a second worker, yet stay short so that a task lost with its worker comes back soon.
# We never use long ETA/countdown (schedules are send_at rows a beat tick dispatches), which is the
# case where a short visibility_timeout would duplicate work.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 900}
# Queues (one per kind of wait), task routes and beat's ticks: config/celery_schedule.py.
CELERY_TASK_QUEUES = celery_schedule.CELERY_TASK_QUEUES
CELERY_TASK_DEFAULT_QUEUE = celery_schedule.CELERY_TASK_DEFAULT_QUEUE
CELERY_TASK_ROUTES = celery_schedule.CELERY_TASK_ROUTES
CELERY_BEAT_SCHEDULE = celery_schedule.CELERY_BEAT_SCHEDULE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"

# --- Email -------------------------------------------------------------------------------------
_email = env.read_email("EMAIL_URL", default="outbox://")
# Shown in errors and the admin so an operator sees which server was tried, never its password
# (nor an ESP's API key).
EMAIL_URL_REDACTED = env.redact_email_url(
    env.read_str("EMAIL_URL", default="outbox://") or "outbox://"
)
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT = 30
# django-anymail, when EMAIL_URL names an ESP (postmark://TOKEN@, ...): its API settings from the
# URL, and the basic-auth "user:password" pairs its tracking webhooks (/anymail/<esp>/tracking/)
# accept. Without ANYMAIL_WEBHOOK_SECRET the webhooks refuse every call. Only the tracking
# webhooks of the ESPs EMAIL_URL can name are mounted.
ESP_NAMES = sorted(env.ESP_SCHEMES)
ANYMAIL = {
    **_email.get("ANYMAIL", {}),
    "REQUESTS_TIMEOUT": EMAIL_TIMEOUT,
    "WEBHOOK_SECRET": env.read_webhook_secret("ANYMAIL_WEBHOOK_SECRET"),
}
OUTBOX_DIR = VAR_DIR / "outbox"
DEFAULT_FROM_EMAIL = env.read_from_address(
    "DEFAULT_FROM_EMAIL", default="Newsroom <newsletter@localhost>" if DEBUG else None
)
if DEFAULT_FROM_EMAIL is None:
    raise ConfigurationError(
        "DEFAULT_FROM_EMAIL is required when DEBUG is off: confirmation mail is sent from it, and "
        "mailbox providers reject or junk mail from a domain that is not yours."
    )
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# How long the per-reader ledger of a finished digest is kept before it is reduced to counts.
DELIVERY_RETENTION_DAYS = 30
# The first retry of a message the server deferred (4xx, lost connection) waits this long, each
# further one twice as long up to an hour. A setting (not an environment variable) so the tests'
# workers can shorten it.
DELIVERY_RETRY_BASE_SECONDS = 60
# After a fault that is the server's or ours rather than a reader's (unreachable, refusing our
# login), every batch for that server waits this long before trying again; attempts are not
# counted. A setting for the same reason.
DELIVERY_HALT_SECONDS = 60
# Messages per second for all workers together (a shared token bucket in Redis); 0 = unlimited.
SEND_RATE = env.read_float("SEND_RATE", default=0.0)
# CAN-SPAM and most ESPs require a physical postal address in every bulk mail.
MAILING_ADDRESS = env.read_str(
    "MAILING_ADDRESS", default="Newsroom, 1 Example Street, Springfield" if DEBUG else None
)
if MAILING_ADDRESS is None:
    raise ConfigurationError(
        "MAILING_ADDRESS is required when DEBUG is off: bulk mail must carry the sender's postal "
        "address (CAN-SPAM, and most mailbox providers' rules)."
    )

# --- Deliverability (docs/deliverability.md) -------------------------------------------------
# Optional DKIM signing; a list whose From domain is another gets a key of its own in admin.
DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY_FILE = deliverability.read_dkim()
# Each message's return path is BOUNCE_ADDRESS with a signed token after a '+' (VERP), so a bounce
# names its delivery; List-Unsubscribe then offers a mailto: too (the RFC 8058 https link first).
BOUNCE_ADDRESS = deliverability.read_bounce_address("BOUNCE_ADDRESS")
# Bounce and feedback-loop mail fetched every minute by beat (`manage.py bounces_fetch`); a soft
# bounce (mailbox full, ...) suppresses an address once it has this many in the window.
BOUNCE_MAILBOX = deliverability.read_mailbox_url("BOUNCE_MAILBOX_URL")
BOUNCE_SOFT_LIMIT = int(env.read_float("BOUNCE_SOFT_LIMIT", default=3, minimum=1))
BOUNCE_SOFT_WINDOW_DAYS = env.read_float("BOUNCE_SOFT_WINDOW_DAYS", default=14, minimum=1)
# Messages per second per receiving-domain group (gmail, outlook, yahoo, other) on top of SEND_RATE.
DOMAIN_SEND_RATES = deliverability.read_domain_rates("DOMAIN_SEND_RATES")

# Sites allowed to embed the signup form / call the public subscribe API from the browser
# (django-cors-headers reads these; the signup views also accept form POSTs from their pages).
# Only the public signup endpoints answer cross-origin: the form, its time token and the API.
CORS_ALLOWED_ORIGINS = env.read_list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/(api/v1/subscribe/?|subscribe/|subscribe/token/)$"

# --- Security ----------------------------------------------------------------------------------
_https = SITE_URL.startswith("https://")
SESSION_COOKIE_SECURE = _https
CSRF_COOKIE_SECURE = _https
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if _https else None
# An https site is https only: plain HTTP is redirected, and browsers are told (HSTS, for a year) to
# never try it again. includeSubDomains covers only hosts under SITE_URL's own (news.example.com
# serves the product and nothing else); preload does nothing until someone submits the domain to
# the browsers' list. Both are what `check --deploy` asks for.
SECURE_SSL_REDIRECT = _https
SECURE_HSTS_SECONDS = 365 * 24 * 60 * 60 if _https else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _https
SECURE_HSTS_PRELOAD = _https
# A load balancer's health check and a Prometheus scrape speak plain HTTP inside the network; a
# redirect would read as "down".
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics/?$"]
# Proxies (addresses or CIDRs) whose X-Forwarded-For is believed: the reader's address for the
# per-IP signup limit, consent records and the audit trail is read through these hops only, and
# anyone else's header changes nothing (operations/client_address.py).
TRUSTED_PROXIES = env.read_networks("TRUSTED_PROXIES")
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- Staff logins and readers' data ------------------------------------------------------------
# django-axes first: it refuses a locked-out login before the password is even checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# 5 wrong passwords for one username from one address lock that pair out for 15 minutes (see
# operations/login_throttle.py). Rows, not Redis keys: an operator sees and lifts a lockout in
# admin or by username (`axes_reset_username`), which the cache handler's hashed keys cannot do.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Only failures are kept (operations/admin.py says why).
AXES_DISABLE_ACCESS_LOG = True
# The cool-off runs from the lockout, so it ends when the lockout page says it will.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_CLIENT_IP_CALLABLE = "operations.login_throttle.login_client_ip"
AXES_LOCKOUT_CALLABLE = "operations.login_throttle.lockout_response"
# Who must give a code from an authenticator app after the password (operations/two_factor.py):
# off | senders (staff who may send digests) | all. Off in development, so `make run`'s staff
# login and the tests need no phone; senders in production.
STAFF_2FA = env.read_choice(
    "STAFF_2FA",
    default="off" if DEBUG else "senders",
    choices=("off", "senders", "all"),
    meaning="who must give a code from an authenticator app after their password",
)
# The name authenticator apps list the account under.
OTP_TOTP_ISSUER = "Newsdesk"
# Admin lists and deletes staff devices (a lost phone) but never shows their secret keys.
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# How long the link that opens a reader's data (download, erasure) works, mailed to them when
# they ask on the preference page (mailinglist/data_links.py says why).
DATA_LINK_MAX_AGE_SECONDS = 60 * 60

# --- Internationalisation ----------------------------------------------------------------------
# What readers may read in (#9); a list's language is one of these. The source strings are
# English; locale/ holds the others, compiled and checked by `python -m devtools.messages`.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية"), ("fr", "Français"), ("es", "Español")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The newsroom's name on pages and transactional mail (the demo's until lists have branding, #9).
SITE_NAME = "The Daily Ledger"
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ------------------------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# Uploads (lists' logos): by default a folder under var/ that the web process serves at /media/
# and mail links to absolutely (SITE_URL); MEDIA_STORAGE_URL names a bucket all hosts share.
MEDIA_URL = "/media/"
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": media_storage_read(env.read_str("MEDIA_STORAGE_URL", default="") or ""),
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Logging -----------------------------------------------------------------------------------
# `text` for people, `json` (one object per line, with digest_id and batch) for a log collector.
LOG_FORMAT = read_log_format("LOG_FORMAT")
LOGGING = logging_config(log_format=LOG_FORMAT)
# django-axes logs four lines at INFO for every staff login; its failures and lockouts are
# warnings, and those are what an operator needs.
LOGGING["loggers"]["axes"] = {"level": "WARNING"}
# Celery would replace the root handler with its own in every worker; keeping ours gives web,
# workers and beat one format, and workers' lines the digest and batch they are about.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Observability -----------------------------------------------------------------------------
# /metrics (Prometheus) answers only with `Authorization: Bearer <METRICS_TOKEN>`; unset, it is off.
METRICS_TOKEN = read_metrics_token("METRICS_TOKEN")
# Errors of web, workers and beat go to Sentry when SENTRY_DSN is set (nothing is sent otherwise).
sentry_init(
    name="SENTRY_DSN",
    environment=env.read_str("SENTRY_ENVIRONMENT", default=None)
    or ("development" if DEBUG else "production"),
)
