# syntax=docker/dockerfile:1
#
# tenant-catalog: one image for the HTTP service and for schema migrations.
#
#   docker build -t tenant-catalog .
#   docker run --rm -e CATALOG_DATABASE_URL=postgresql://owner:pw@db/catalog tenant-catalog db upgrade
#   docker run -d -p 8000:8000 -e CATALOG_DATABASE_URL=postgresql://app:pw@db/catalog tenant-catalog
#
# Migrations are a separate, one-shot command (`db upgrade`), never part of every replica's
# start: CATALOG_MIGRATE_ON_START=false below (it would otherwise apply on SQLite only).
# For a single throwaway container on the embedded SQLite file, pass
# `-e CATALOG_MIGRATE_ON_START=true` (or run `db upgrade` first on the same volume).

# Both stages must use the same Python: the venv's interpreter is a link to the base image's.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: resolve and install the application into a self-contained venv -----------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_INPUT=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build

# Dependencies first, every version pinned by constraints.txt: a source-only change reuses
# this layer.
COPY pyproject.toml constraints.txt ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('requirements.txt', 'w').write(chr(10).join(deps) + chr(10))" \
 && pip install --no-cache-dir -c constraints.txt -r requirements.txt

# Then the application itself (the Alembic scripts ship inside it as the `migrations` package).
COPY README.md ./
COPY src ./src
COPY migrations ./migrations
# The service needs neither pip nor setuptools at run time: they stay out of the image.
RUN pip install --no-cache-dir -c constraints.txt . \
 && catalog --help > /dev/null \
 && python -m pip uninstall --yes --quiet pip setuptools

# --- runtime: the venv only, run by an unprivileged user --------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="tenant-catalog" \
      org.opencontainers.image.description="Multi-tenant asynchronous REST catalog of books, cities and users."

RUN groupadd --system --gid 10001 catalog \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
            --shell /usr/sbin/nologin catalog \
 && install -d -o 10001 -g 10001 -m 0750 /app

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CATALOG_HOST=0.0.0.0 \
    CATALOG_PORT=8000 \
    CATALOG_MIGRATE_ON_START=false

WORKDIR /app
USER 10001:10001
EXPOSE 8000

# Liveness of the process (slim has no curl). Readiness (/readyz) is the load balancer's job.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CATALOG_PORT', '8000'), timeout=2)"]

# uvicorn runs as PID 1 and handles SIGTERM itself: it stops accepting, finishes the requests
# in flight (up to 30 s), then exits; give `docker stop` / compose a grace period above that.
ENTRYPOINT ["catalog"]
CMD ["serve"]
