"""Settings for every environment, read from the process environment (django-environ).

`.env.example` lists every variable with a working local default. With
`DJANGO_ENV=production` the process refuses to start without a real SECRET_KEY and
ALLOWED_HOSTS, and turns on the secure defaults that `manage.py check --deploy` wants.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from commerce_project.envfile import read_env_file
from commerce_project.log_formats import JSON_LOG_FORMATTER, TEXT_LOG_FORMATTER

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
read_env_file()

DJANGO_ENV = env.str("DJANGO_ENV", default="development")
PRODUCTION = DJANGO_ENV == "production"
DEBUG = env.bool("DEBUG", default=not PRODUCTION)

_DEV_SECRET_KEY = "dev-insecure-key-do-not-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else _DEV_SECRET_KEY)
ALLOWED_HOSTS: list[str] = env.list(
    "ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"]
)
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Kubernetes gives each web pod its address (k8s/web-deployment.yaml): Prometheus scrapes
# /metrics at the pod's IP, which is then the Host header Django checks.
POD_IP = env.str("POD_IP", default="")
if POD_IP:
    ALLOWED_HOSTS.append(POD_IP)

if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs SECRET_KEY: a random string of 50 or more characters "
            "(python -c 'import secrets; print(secrets.token_urlsafe(64))')."
        )
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured(
            "DJANGO_ENV=production needs ALLOWED_HOSTS: a comma-separated list of host names."
        )
    if DEBUG:
        raise ImproperlyConfigured("DJANGO_ENV=production must not run with DEBUG=true.")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "corsheaders",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "commerce_project.api",
    "accounts",
    "eventstore",
    "inventory",
    "orders",
    "payments",
    "carts",
    "sagas",
    "integrations",
    "operations",
]

# Sessions, the session user and messages serve the admin and the browsable API; the
# `session_only` subclasses skip them for /api/ requests without a session cookie (token
# clients), where they do nothing but cost time (commerce_project/api/session_only.py).
MIDDLEWARE = [
    "commerce_project.api.request_id.RequestIdMiddleware",
    # Token and anonymous API requests run the hooks of the browser middleware below without
    # their layers (commerce_project/api/lane.py).
    "commerce_project.api.lane.ApiLaneMiddleware",
    # Before anything that can answer: a preflight is answered here, without authentication.
    "commerce_project.api.cors.CorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "commerce_project.api.session_only.SessionMiddleware",
    "commerce_project.api.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "commerce_project.api.session_only.AuthenticationMiddleware",
    "commerce_project.api.session_only.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "commerce_project.api.problems.ProblemResponseMiddleware",
]

if PRODUCTION:
    # gunicorn serves the collected static files (admin, Swagger UI) itself.
    MIDDLEWARE.insert(
        MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
        "whitenoise.middleware.WhiteNoiseMiddleware",
    )

# Observability (issue 17): request metrics are the outermost middleware, so their latency
# covers all the others. METRICS_ENABLED=false leaves it out (and /metrics answers 404).
METRICS_ENABLED = env.bool("METRICS_ENABLED", default=True)
if METRICS_ENABLED:
    MIDDLEWARE.insert(0, "commerce_project.api.http_metrics.HttpMetricsMiddleware")

ROOT_URLCONF = "commerce_project.urls"
WSGI_APPLICATION = "commerce_project.wsgi.application"
ASGI_APPLICATION = "commerce_project.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/commerce"),
}
DATABASES["default"].setdefault("OPTIONS", {})
# Django's native psycopg pool: a request borrows a connection that is already open and
# configured, and gives it back when it ends. Without it, every request paid for a health
# check (a `SELECT 1` round trip) on a persistent connection, or for a new connection.
# Prefork Celery workers turn it off and threaded ones size it for their threads
# (commerce_project/celery.py): in prefork Celery closes the database after every task and a
# pool must not cross a fork.
DB_POOL = env.bool("DB_POOL", default=True)
if DB_POOL:
    # Django refuses persistent connections beside a pool: the pool keeps them.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"]["pool"] = {
        # Per process; a gunicorn worker needs at most one connection per thread.
        "min_size": env.int("DB_POOL_MIN_SIZE", default=2),
        "max_size": env.int("DB_POOL_MAX_SIZE", default=8),
        # How long a request waits for a connection before it is a 503: all of them busy
        # (more threads than max_size), or PostgreSQL unreachable, as DB_CONNECT_TIMEOUT.
        "timeout": env.float("DB_POOL_TIMEOUT", default=env.float("DB_CONNECT_TIMEOUT", default=5)),
        # Connections are replaced after this long, so a failover or a changed
        # server-side setting reaches every process without a restart.
        "max_lifetime": env.float("DB_POOL_MAX_LIFETIME", default=1800.0),
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
# A check on every borrow costs a round trip per request; the pool drops a connection that
# failed and a lost one is a 503 the client retries (docs/performance.md). Without the pool
# the check is what keeps a persistent connection usable after PostgreSQL restarts.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DB_CONN_HEALTH_CHECKS", default=not DB_POOL)
DATABASES["default"]["OPTIONS"]["connect_timeout"] = env.int("DB_CONNECT_TIMEOUT", default=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Pages Django renders (the admin) show times with seconds and the time zone.
FORMAT_MODULE_PATH = ["commerce_project.formats"]

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- Redis: cache (throttling, stock cache) and carts share one URL; Celery has its own.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
REDIS_SOCKET_TIMEOUT = env.float("REDIS_SOCKET_TIMEOUT", default=0.5)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "cache",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": REDIS_SOCKET_TIMEOUT,
            # Caches and throttling fail open: a Redis outage is logged, not a 500.
            "IGNORE_EXCEPTIONS": True,
        },
    }
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "commerce_project.redis"

# --- Celery
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/1")
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="redis://127.0.0.1:6379/2")
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Worker processes run their tasks on threads (`--pool=threads` in the Procfile, compose and
# k8s): a saga step mostly waits (for PostgreSQL's commits, for the payment gateway), and
# threads overlap those waits where a prefork child runs one task at a time. One process uses
# at most one core (the GIL): run one worker process per core, this many threads each. The
# database pool grows to fit them (commerce_project/celery.py); a step that hangs past
# CELERY_TASK_TIME_LIMIT ends the process (sagas/leases.py), as prefork ends a child.
# (Not CELERY_WORKER_POOL: with it set, Celery takes `--pool=prefork` for its own default and
# ignores it.)
CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=8)
# The hard limit is what ends a saga step that hangs (its lease is renewed while it runs).
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=120)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=100)
CELERY_RESULT_EXPIRES = timedelta(hours=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose broker goes away reconnects, with growing pauses (2 s, 4 s, ... 30 s), for
# as long as it takes: by default it gives up after 100 attempts (about 45 minutes) and exits.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A step still running when the connection is lost finishes and records its outcome in
# PostgreSQL (the truth); only its ack is lost, and a second delivery goes by the saga row.
# Cancelling it (Celery 6's default) would cut a gateway call short for nothing.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# A publish must not hang a request when Redis is down: fail fast, the sweeper recovers.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT * 4,
    "socket_timeout": REDIS_SOCKET_TIMEOUT * 4,
    "max_retries": 1,
}
CELERY_TASK_PUBLISH_RETRY = False
CELERY_TASK_ALWAYS_EAGER = False
# Worker lines go through LOGGING like the web's (same format, request id and trace id on
# every line) instead of Celery's own root handler.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "purge-idempotency-keys": {
        "task": "commerce_project.api.tasks.purge_expired_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
}

# --- REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "commerce_project.api.pagination.PageNumberPagination",
    "PAGE_SIZE": env.int("API_PAGE_SIZE", default=20),
    "DEFAULT_FILTER_BACKENDS": [
        "commerce_project.api.filters.FilterBackend",
        "commerce_project.api.filters.StrictOrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttles.AnonRateThrottle",
        "accounts.throttles.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env.str("THROTTLE_ANON_RATE", default="100/minute"),
        "user": env.str("THROTTLE_USER_RATE", default="2000/minute"),
        # POST auth/token/ (accounts.throttles): per client address and per username.
        "login_address": env.str("THROTTLE_LOGIN_ADDRESS_RATE", default="10/minute"),
        "login_username": env.str("THROTTLE_LOGIN_USERNAME_RATE", default="5/minute"),
    },
    # How many proxies in front of the service append to X-Forwarded-For: the throttles'
    # client address is the entry the outermost trusted one saw. 0 (the default) ignores
    # the header, which any client can write, and uses the connection's address.
    "NUM_PROXIES": env.int("NUM_PROXIES", default=0),
    "EXCEPTION_HANDLER": "commerce_project.api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "commerce_project.api.schema.CommerceAutoSchema",
    "DEFAULT_RENDERER_CLASSES": [
        "commerce_project.api.renderers.JSONRenderer",
        "commerce_project.api.renderers.ProblemJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    # DRF's negotiation, remembered per Accept header (commerce_project/api/negotiation.py).
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "commerce_project.api.negotiation.ContentNegotiation",
    # JSON only: form bodies would be parsed with fields silently dropped.
    "DEFAULT_PARSER_CLASSES": ["commerce_project.api.parsers.JSONParser"],
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Commerce Service API",
    "DESCRIPTION": "Carts, event-sourced orders, inventory and the fulfilment saga.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Operations and tags named after the resource (`orders_ship_create`, tag `orders`), not
    # after the version every path shares.
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Several resources have a `status`; name each choice set after its owner.
    "ENUM_NAME_OVERRIDES": {
        "CartStatusEnum": "carts.selectors.CartStatus",
        "SagaStatusEnum": ["RUNNING", "COMPENSATING", "COMPLETED", "COMPENSATED", "FAILED"],
        "OrderStatusEnum": "orders.domain.ORDER_STATUSES",
    },
}

# --- Sign-in tokens (accounts): django-rest-knox, one hashed token per device or client.
# A token lives this long from its issue (fixed, not sliding: a sliding expiry would write to
# the database on every request). Logging in again issues a new one.
AUTH_TOKEN_TTL = timedelta(seconds=env.int("AUTH_TOKEN_TTL_SECONDS", default=30 * 24 * 3600))
REST_KNOX = {
    "TOKEN_TTL": AUTH_TOKEN_TTL,
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": None,
    "AUTH_HEADER_PREFIX": "Bearer",
}
# How long a token verified against the database is remembered in Redis (accounts.token_cache).
# Revocation does not wait for it: it takes effect at once (docs/api.md, "Token cache").
AUTH_TOKEN_CACHE_TTL = env.int("AUTH_TOKEN_CACHE_TTL_SECONDS", default=300)
# How long a user's cached tokens stay unusable if the process that changed the user died
# before its commit was acknowledged; must outlast any transaction that changes a user.
AUTH_TOKEN_CACHE_HOLD = env.int("AUTH_TOKEN_CACHE_HOLD_SECONDS", default=600)
CELERY_BEAT_SCHEDULE["purge-expired-tokens"] = {
    "task": "accounts.tasks.purge_expired_tokens",
    "schedule": timedelta(hours=1),
}

# --- CORS (django-cors-headers): browser apps on these origins may call the API. None by
# default; e.g. https://shop.example.com,https://admin.example.com
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = [
    "ETag",
    "Location",
    "Retry-After",
    "Idempotent-Replayed",
    "X-Request-ID",
]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "if-match",
    "if-none-match",
    "idempotency-key",
    "x-request-id",
]

IDEMPOTENCY_KEY_TTL = timedelta(seconds=env.int("IDEMPOTENCY_KEY_TTL_SECONDS", default=86400))
# A request still marked in progress after this long is taken to have died with its worker.
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(
    seconds=env.int("IDEMPOTENCY_LOCK_TIMEOUT_SECONDS", default=60)
)

# --- Email: console in development, SMTP in production (EMAIL_URL).
_email = env.email_url("EMAIL_URL", default="consolemail://")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST", "")
EMAIL_PORT = _email.get("EMAIL_PORT", 25)
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
# Seconds an SMTP connection may block: a mail server that stops answering must not hold a
# worker thread (and the saga step sending the e-mail) until the hard time limit.
EMAIL_TIMEOUT = env.float("EMAIL_TIMEOUT", default=10.0)
EMAIL_FILE_PATH = env.str("EMAIL_FILE_PATH", default=str(BASE_DIR / "var" / "mail"))
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="shop@commerce.local")

# --- Logging: readable lines in development, JSON in production; every line has request_id
# and trace_id (the OpenTelemetry trace, "-" when there is none).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "commerce_project.api.request_id.RequestIdLogFilter"},
        "redis_fail_open": {"()": "commerce_project.metrics.RedisFailOpenLogCounter"},
    },
    # The JSON shape is shared with gunicorn's access log (commerce_project.gunicorn_conf).
    "formatters": {"text": TEXT_LOG_FORMATTER, "json": JSON_LOG_FORMATTER},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Django's own default handlers would print every error a second time.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.db.backends": {"level": "WARNING"},
        "celery": {"level": LOG_LEVEL},
        # django-redis reports the errors it ignores (caches and throttling fail open) only
        # through this logger: each one counts in commerce_redis_fail_open_total{component="cache"}.
        DJANGO_REDIS_LOGGER: {"filters": ["redis_fail_open"]},
    },
}

# --- Observability: /metrics, traces, the operations dashboard (docs/observability.md).
# Who may read /metrics: clients whose address (the connection's, never X-Forwarded-For) is
# in one of these networks, or any client sending `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_ALLOWED_CIDRS: list[str] = env.list(
    "METRICS_ALLOWED_CIDRS", default=["127.0.0.1/32", "::1/128"]
)
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
# Where the processes of one host write their samples (prometheus-client's multiprocess
# mode); empty: each process is on its own. commerce_project.metrics reads it from the
# environment itself (prometheus-client decides at import); this copy is for reference.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
# Celery workers in a pod of their own export their per-process metrics on this port (0: off;
# on one host they share PROMETHEUS_MULTIPROC_DIR with the web processes instead).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", default=0)
# Traces go over OTLP/HTTP to this collector (e.g. http://otel-collector:4318); empty: no
# tracing at all (no instrumentation, no cost). OTEL_* variables of the SDK apply as usual.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", default="commerce-service")
# The dashboard lists products with at most this many units available.
OPERATIONS_LOW_STOCK_THRESHOLD = env.int("OPERATIONS_LOW_STOCK_THRESHOLD", default=5)

# --- Security. Production-only switches; TLS is terminated at the ingress.
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if PRODUCTION else None
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- Per-app settings. Each section belongs to one app; keep them apart.

# eventstore
# Snapshot an aggregate each time its stream crosses a multiple of this many events (0: never).
EVENTSTORE_SNAPSHOT_EVERY = env.int("EVENTSTORE_SNAPSHOT_EVERY", default=50)
# Extra attempts for commands marked retry_on_conflict, with jittered backoff (seconds).
EVENTSTORE_COMMAND_RETRIES = env.int("EVENTSTORE_COMMAND_RETRIES", default=3)
EVENTSTORE_COMMAND_RETRY_BACKOFF = env.float("EVENTSTORE_COMMAND_RETRY_BACKOFF", default=0.005)
# Catch-up runner batch (events per transaction) and how often beat runs async projections.
EVENTSTORE_PROJECTION_BATCH_SIZE = env.int("EVENTSTORE_PROJECTION_BATCH_SIZE", default=500)
EVENTSTORE_ASYNC_PROJECTIONS_INTERVAL = env.float(
    "EVENTSTORE_ASYNC_PROJECTIONS_INTERVAL", default=5.0
)
# rebuild_projections: events per batch, and how long the final swap may wait for the lock
# on the read model before giving up (it keeps the shadow table and can be run again).
EVENTSTORE_REBUILD_BATCH_SIZE = env.int("EVENTSTORE_REBUILD_BATCH_SIZE", default=5000)
EVENTSTORE_REBUILD_LOCK_TIMEOUT = env.float("EVENTSTORE_REBUILD_LOCK_TIMEOUT", default=10.0)
EVENTSTORE_REBUILD_SWAP_ATTEMPTS = env.int("EVENTSTORE_REBUILD_SWAP_ATTEMPTS", default=3)
# Run the event store's hot statements as server-side prepared statements (off behind a
# pooler in transaction mode that cannot keep them).
EVENTSTORE_PREPARED_STATEMENTS = env.bool("EVENTSTORE_PREPARED_STATEMENTS", default=True)
CELERY_BEAT_SCHEDULE["eventstore-run-async-projections"] = {
    "task": "eventstore.tasks.run_async_projections",
    "schedule": timedelta(seconds=EVENTSTORE_ASYNC_PROJECTIONS_INTERVAL),
    "options": {"expires": EVENTSTORE_ASYNC_PROJECTIONS_INTERVAL},
}

# orders
# Currency of an order created without lines and without an explicit currency.
ORDERS_DEFAULT_CURRENCY = env.str("ORDERS_DEFAULT_CURRENCY", default="EUR")

# inventory and carts
INVENTORY_DEFAULT_CURRENCY = env.str("INVENTORY_DEFAULT_CURRENCY", default="EUR")
# An unpaid order's stock is held this long; the saga's payment timers must be shorter.
INVENTORY_RESERVATION_TTL = timedelta(
    seconds=env.int("INVENTORY_RESERVATION_TTL_SECONDS", default=15 * 60)
)
# Optimistic reservation: attempts per line, and the jitter ceiling (seconds) of the first
# back-off; it doubles with each attempt.
INVENTORY_RESERVE_MAX_ATTEMPTS = env.int("INVENTORY_RESERVE_MAX_ATTEMPTS", default=12)
INVENTORY_RESERVE_BACKOFF = env.float("INVENTORY_RESERVE_BACKOFF_SECONDS", default=0.002)
# Lifetime of the Redis catalogue cache keys: the longest a cached value can stay wrong
# after an after-commit write was lost (a crash, or Redis down at that moment). The values
# are advisory (nothing is reserved from them), so a short life costs little.
INVENTORY_CACHE_TTL = env.int("INVENTORY_CACHE_TTL_SECONDS", default=60)
INVENTORY_EXPIRY_SWEEP_INTERVAL = env.int("INVENTORY_EXPIRY_SWEEP_SECONDS", default=60)
CELERY_BEAT_SCHEDULE["inventory-expire-reservations"] = {
    "task": "inventory.tasks.expire_reservations",
    "schedule": timedelta(seconds=INVENTORY_EXPIRY_SWEEP_INTERVAL),
}
CART_TTL = timedelta(seconds=env.int("CART_TTL_SECONDS", default=7 * 24 * 3600))
CART_MAX_LINES = env.int("CART_MAX_LINES", default=50)
CART_MAX_LINE_QUANTITY = env.int("CART_MAX_LINE_QUANTITY", default=99)
# How long a checkout may hold a cart before a crashed checkout's claim lapses.
CART_CHECKOUT_CLAIM_TTL = timedelta(seconds=env.int("CART_CHECKOUT_CLAIM_TTL_SECONDS", default=120))

# payments
# Dotted path of the PaymentGateway implementation (payments.gateway.PaymentGateway).
PAYMENT_GATEWAY = env.str("PAYMENT_GATEWAY", default="payments.sandbox.SandboxGateway")
# How long a sandbox authorization can be captured; must outlive the saga's step deadlines.
PAYMENT_SANDBOX_AUTHORIZATION_TTL = timedelta(
    seconds=env.float("PAYMENT_SANDBOX_AUTHORIZATION_TTL_SECONDS", default=7 * 24 * 3600)
)

# sagas and notifications
# The Celery queue that saga tasks are published to (the default worker consumes "celery").
SAGA_QUEUE = env.str("SAGA_QUEUE", default="celery")
# A worker's hold on a saga while it runs one step, renewed every third of it while the step
# runs (so a slow step is never run twice at once); a dead worker's saga is taken over after
# at most this long. A step that hangs is ended by CELERY_TASK_TIME_LIMIT (checked at start-up).
SAGA_LEASE = timedelta(seconds=env.float("SAGA_LEASE_SECONDS", default=60))
# Beat period of the sweeper, which re-enqueues due sagas and sagas whose lease expired.
SAGA_SWEEP_INTERVAL = timedelta(seconds=env.float("SAGA_SWEEP_INTERVAL_SECONDS", default=2))
# A saga enqueued this long ago and still not claimed is taken to have lost its message.
SAGA_REDISPATCH_AFTER = timedelta(seconds=env.float("SAGA_REDISPATCH_AFTER_SECONDS", default=30))
SAGA_SWEEP_BATCH = env.int("SAGA_SWEEP_BATCH", default=500)
# Defaults for steps whose definition leaves retry policy or deadline out.
SAGA_RETRY_MAX_ATTEMPTS = env.int("SAGA_RETRY_MAX_ATTEMPTS", default=5)
SAGA_RETRY_BASE_DELAY = timedelta(seconds=env.float("SAGA_RETRY_BASE_DELAY_SECONDS", default=1))
SAGA_RETRY_MAX_DELAY = timedelta(seconds=env.float("SAGA_RETRY_MAX_DELAY_SECONDS", default=60))
SAGA_RETRY_JITTER = env.float("SAGA_RETRY_JITTER", default=0.5)
SAGA_COMPENSATION_MAX_ATTEMPTS = env.int("SAGA_COMPENSATION_MAX_ATTEMPTS", default=10)
SAGA_STEP_DEADLINE = timedelta(seconds=env.float("SAGA_STEP_DEADLINE_SECONDS", default=300))
# Extra modules that register saga definitions when the sagas app loads.
# The claim and a step's own commits skip the WAL flush; the outcome's commit flushes them
# (sagas/services.py explains why a crash cannot lose more than a worker dying mid-step).
SAGA_STEP_ASYNC_COMMIT = env.bool("SAGA_STEP_ASYNC_COMMIT", default=True)
SAGA_DEFINITION_MODULES: list[str] = env.list("SAGA_DEFINITION_MODULES", default=[])
CELERY_BEAT_SCHEDULE["sweep-sagas"] = {
    "task": "sagas.tasks.sweep_sagas",
    "schedule": SAGA_SWEEP_INTERVAL,
    # A sweep that waited longer than one period is pointless: the next one is on its way.
    "options": {"queue": SAGA_QUEUE, "expires": SAGA_SWEEP_INTERVAL.total_seconds()},
}
# Order fulfilment. Timers nest (checked at start-up, sagas/checks.py):
#   step deadline < payment timeout, and
#   payment timeout + step deadline + max(SAGA_LEASE, CELERY_TASK_TIME_LIMIT) < reservation TTL
#   and < authorization lifetime.
# Each step of the fulfilment saga must finish within this time, or the saga compensates.
FULFILMENT_STEP_DEADLINE = timedelta(
    seconds=env.float("FULFILMENT_STEP_DEADLINE_SECONDS", default=120)
)
# An order not paid this long after it was confirmed is cancelled (reason "timeout") and its
# stock released; it also bounds how long an authorization is held uncaptured.
FULFILMENT_PAYMENT_TIMEOUT = timedelta(
    seconds=env.float("FULFILMENT_PAYMENT_TIMEOUT_SECONDS", default=600)
)
# How long the payment gateway keeps an authorization capturable (the sandbox's TTL by
# default; card networks typically allow 7 days).
FULFILMENT_AUTHORIZATION_LIFETIME = timedelta(
    seconds=env.float(
        "FULFILMENT_AUTHORIZATION_LIFETIME_SECONDS",
        default=PAYMENT_SANDBOX_AUTHORIZATION_TTL.total_seconds(),
    )
)
# Beat period of the payment-timeout check.
FULFILMENT_TIMEOUT_SWEEP_INTERVAL = timedelta(
    seconds=env.float("FULFILMENT_TIMEOUT_SWEEP_SECONDS", default=10)
)
CELERY_BEAT_SCHEDULE["enforce-fulfilment-timeouts"] = {
    "task": "sagas.tasks.enforce_fulfilment_timeouts",
    "schedule": FULFILMENT_TIMEOUT_SWEEP_INTERVAL,
    "options": {"queue": SAGA_QUEUE, "expires": FULFILMENT_TIMEOUT_SWEEP_INTERVAL.total_seconds()},
}

# integrations: the event feed
# Long-polling feed requests (GET /api/v1/feed/?wait=N) each hold a server thread while they
# wait; at most this many wait at once per process, the rest answer at once. Keep it below
# GUNICORN_THREADS so waiting integrations never take every thread from the API.
FEED_MAX_WAITING_REQUESTS = env.int("FEED_MAX_WAITING_REQUESTS", default=2)

# integrations: webhooks (docs/webhooks.md)
# Delays (seconds, fractions allowed) between the attempts of a delivery: one attempt more
# than entries; after the last the delivery is FAILED (a dead letter staff can redeliver).
WEBHOOK_RETRY_SCHEDULE_SECONDS = env.str(
    "WEBHOOK_RETRY_SCHEDULE_SECONDS", default="5,30,300,1800,7200,21600"
)
# A subscription whose deliveries fail without a success for this long is disabled: seconds,
# or a duration such as "3 00:00:00" or "P3D" (Django's parse_duration).
WEBHOOK_DISABLE_AFTER = env.str("WEBHOOK_DISABLE_AFTER", default="259200")
# Targets on private, loopback or link-local addresses are refused unless this is true
# (development and tests only).
WEBHOOK_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOK_ALLOW_PRIVATE_TARGETS", default=False)
WEBHOOK_CONNECT_TIMEOUT = env.float("WEBHOOK_CONNECT_TIMEOUT_SECONDS", default=3.0)
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# Bytes of a receiver's answer kept on the delivery, for staff to read.
WEBHOOK_RESPONSE_BODY_LIMIT = env.int("WEBHOOK_RESPONSE_BODY_LIMIT", default=2048)
# How long the secret replaced by a rotation keeps signing beside the new one.
WEBHOOK_SECRET_OVERLAP = timedelta(
    seconds=env.float("WEBHOOK_SECRET_OVERLAP_SECONDS", default=24 * 3600)
)
# Beat period of the webhook pump (outbox consumer, then dispatcher), the concurrent
# deliveries of one pump run, the deliveries claimed per transaction (a crash sends at most
# that many again), and how long one run may keep sending before it returns (keep it well
# under CELERY_TASK_SOFT_TIME_LIMIT minus WEBHOOK_TIMEOUT).
WEBHOOK_PUMP_INTERVAL = env.float("WEBHOOK_PUMP_INTERVAL_SECONDS", default=1.0)
WEBHOOK_DISPATCH_CONCURRENCY = env.int("WEBHOOK_DISPATCH_CONCURRENCY", default=4)
WEBHOOK_DISPATCH_BATCH = env.int("WEBHOOK_DISPATCH_BATCH", default=20)
WEBHOOK_DISPATCH_TIME_BUDGET = env.float("WEBHOOK_DISPATCH_TIME_BUDGET_SECONDS", default=30.0)
# The Celery queue of the webhook pump (the default worker consumes "celery").
WEBHOOK_QUEUE = env.str("WEBHOOK_QUEUE", default="celery")
# Delivered rows are deleted this long after delivery (dead letters stay until redelivered).
WEBHOOK_DELIVERED_RETENTION = timedelta(
    days=env.float("WEBHOOK_DELIVERED_RETENTION_DAYS", default=30)
)
CELERY_BEAT_SCHEDULE["webhooks-purge-delivered"] = {
    "task": "integrations.webhooks.tasks.purge_delivered_webhooks",
    "schedule": timedelta(hours=1),
    "options": {"queue": WEBHOOK_QUEUE},
}
CELERY_BEAT_SCHEDULE["webhooks-pump"] = {
    "task": "integrations.webhooks.tasks.pump_webhooks",
    "schedule": timedelta(seconds=WEBHOOK_PUMP_INTERVAL),
    "options": {"queue": WEBHOOK_QUEUE, "expires": WEBHOOK_PUMP_INTERVAL},
}
