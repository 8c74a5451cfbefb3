# syntax=docker/dockerfile:1
# The backup job's image (deploy/k8s/components/backups): PostgreSQL's own client tools, whose major
# version must be the server's or newer, and deploy/local/backup.py with asyncpg. No service code, no keyring.
#   docker build -f deploy/docker/backup.Dockerfile -t faka/backup .
ARG POSTGRES_IMAGE=postgres:16-bookworm
FROM ${POSTGRES_IMAGE}
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-asyncpg \
 && rm -rf /var/lib/apt/lists/*
COPY deploy/local/backup.py /app/backup.py
# the image's postgres user (uid 999); the job's pod runs as it too
USER 999:999
WORKDIR /backups
ENTRYPOINT ["python3", "/app/backup.py"]
