# syntax=docker/dockerfile:1
# One image recipe for every faka service (services/<svc>/Dockerfile links here). Build from the
# repository root, the uv workspace being the context, naming the service:
#   docker build -f services/order/Dockerfile --build-arg SERVICE=order -t faka/order .
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG UV_VERSION=0.13.9
RUN test -n "${SERVICE}" || { echo "--build-arg SERVICE=<gateway|order|inventory|...> is required" >&2; exit 1; }
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install "uv==${UV_VERSION}"
WORKDIR /app
# The workspace manifests alone first: the dependency layer is rebuilt only when uv.lock changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/
COPY services/gateway/pyproject.toml services/gateway/
COPY services/order/pyproject.toml services/order/
COPY services/inventory/pyproject.toml services/inventory/
COPY services/delivery/pyproject.toml services/delivery/
COPY services/risk/pyproject.toml services/risk/
COPY services/commission/pyproject.toml services/commission/
COPY services/notification/pyproject.toml services/notification/
COPY services/merchant/pyproject.toml services/merchant/
RUN uv sync --frozen --no-dev --no-install-workspace --package faka-${SERVICE}
# Then the code. The workspace packages stay editable at /app, so config.MIGRATIONS
# (services/<svc>/migrations, found relative to the source) resolves in the image too.
COPY libs/common/src libs/common/src
COPY services/${SERVICE}/src services/${SERVICE}/src
COPY services/${SERVICE}/migrations services/${SERVICE}/migrations
RUN uv sync --frozen --no-dev --package faka-${SERVICE} \
 && .venv/bin/python -m compileall -q --invalidation-mode unchecked-hash \
      libs/common/src services/${SERVICE}/src services/${SERVICE}/migrations

FROM ${PYTHON_IMAGE} AS runtime
ARG SERVICE
RUN groupadd --gid 10001 faka \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin faka
# Nothing is written outside /tmp: bytecode is compiled at build time, HOME is /tmp.
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    FAKA_SERVICE=${SERVICE}
WORKDIR /app
# Owned by root and not writable by the service user.
COPY --from=build /app /app
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)"]
CMD ["sh", "-c", "exec uvicorn \"${FAKA_SERVICE}.entrypoints.app:app\" --host 0.0.0.0 --port 8000 --no-proxy-headers"]
