# Production image of the Commerce Service: one image, three process types.
#   web     the default CMD (gunicorn)
#   worker  celery -A commerce_project worker ...
#   beat    celery -A commerce_project beat ...
# Build:  docker build -t commerce-service:local .
# See docs/deployment.md for compose and Kubernetes.

# --- builder: resolve and install the production requirements into a self-contained venv.
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

# Only the lock, so code changes do not invalidate the dependency layer. Every package,
# transitive ones included, is pinned and checked against its hash (`make lock` writes it).
COPY requirements/prod.lock /build/requirements/
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r /build/requirements/prod.lock

# --- runtime: the venv, the code and the collected static files; runs as an unprivileged user.
FROM python:3.11-slim AS runtime

ARG APP_UID=10001

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=commerce_project.settings.base \
    DJANGO_ENV=production \
    PORT=8000 \
    GUNICORN_WORKERS=2 \
    GUNICORN_THREADS=4 \
    GUNICORN_TIMEOUT=30 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus

# A numeric uid lets Kubernetes verify runAsNonRoot without resolving names.
RUN groupadd --system --gid "${APP_UID}" app \
    && useradd --system --uid "${APP_UID}" --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Code and static files stay owned by root: the process can read them but never rewrite them.
COPY . .

# Settings refuse to load in production without SECRET_KEY and ALLOWED_HOSTS. These throwaway
# values exist only for this RUN (collectstatic touches neither database nor sessions) and are
# not kept in the image; the real ones come from the environment at run time. The bytecode is
# compiled here because the running process may not write it (read-only root filesystem).
RUN DJANGO_ENV=production \
    SECRET_KEY=build-only-collectstatic-key-never-used-at-run-time-0123456789 \
    ALLOWED_HOSTS=build.invalid \
    python manage.py collectstatic --noinput --verbosity 0 \
    && python -m compileall -q -j 0 /app

USER ${APP_UID}:${APP_UID}
EXPOSE 8000

# Liveness of the web process only; worker and beat override or disable it (compose, k8s).
# python, because the slim image has no curl. The Host header is the first ALLOWED_HOSTS entry:
# Django answers 400 to any other host, including 127.0.0.1 in production.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; h = os.environ.get('ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); h = 'localhost' if h in ('', '*') else h; r.urlopen(r.Request('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', headers={'Host': h}), timeout=4)"]

# Threads make a worker tolerant of slow I/O; the worker tmp dir lives on /tmp (an emptyDir in
# Kubernetes) because the root filesystem is read-only. exec: gunicorn gets the signals.
# gunicorn_conf: JSON access log with request and trace ids; it empties PROMETHEUS_MULTIPROC_DIR
# (also on /tmp) when the master starts and marks exited workers dead.
CMD ["sh", "-c", "exec gunicorn commerce_project.wsgi:application --config python:commerce_project.gunicorn_conf --bind 0.0.0.0:${PORT} --workers ${GUNICORN_WORKERS} --threads ${GUNICORN_THREADS} --timeout ${GUNICORN_TIMEOUT} --graceful-timeout ${GUNICORN_TIMEOUT} --keep-alive 5 --max-requests 2000 --max-requests-jitter 200 --worker-tmp-dir /tmp --access-logfile -"]
