# faka: one command to run the platform locally (`make up`), one to prove it (`make test`).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

STATE ?= $(CURDIR)/.state
PY := $(CURDIR)/.venv/bin/python
INFRA := bash deploy/local/infra.sh
SERVICES := bash deploy/local/services.sh
WITH_ENV := source $(STATE)/env &&
# Python here writes and reads compiled bytecode. These machines set PYTHONDONTWRITEBYTECODE, so every
# process compiled every module from source: a service's app took 9.9 s of CPU to import instead of 4.0 s
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

.PHONY: bootstrap
bootstrap: ## install uv and the locked Python dependencies into .venv, compiled to bytecode
	@python3 -m uv --version >/dev/null 2>&1 || python3 -m pip install --quiet --disable-pip-version-check uv
	@UV_PYTHON_DOWNLOADS=never python3 -m uv sync --frozen --quiet --compile-bytecode

.PHONY: infra-up
infra-up: ## start Kafka (KRaft), PostgreSQL and Redis on loopback, installing what is missing
	@$(INFRA) up

.PHONY: infra-down
infra-down: ## stop the local Kafka, PostgreSQL and Redis
	@$(INFRA) down

.PHONY: up
up: bootstrap infra-up ## install and start everything, load the demo catalog, print the URLs
	@$(SERVICES) start
	@$(PY) deploy/local/demo.py

.PHONY: down
down: ## stop the services and the infrastructure that `make up` started
	@$(SERVICES) stop
	@$(INFRA) down

.PHONY: status
status: ## what is running
	@$(INFRA) status || true
	@$(SERVICES) status || true

.PHONY: migrate
migrate: bootstrap infra-up ## run every service's migrations
	@$(PY) deploy/local/migrate.py

.PHONY: backup
backup: bootstrap ## dump every service's database into BACKUP_DIR (default .state/backups/<time>); the keyring stays out
	@$(PY) deploy/local/backup.py backup $(if $(BACKUP_DIR),--to $(BACKUP_DIR),)

.PHONY: restore
restore: bootstrap ## restore BACKUP=<dir> into empty databases (services stopped), rows checked against its manifest
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=.state/backups/<time>"; exit 2; }
	@$(PY) deploy/local/backup.py restore --from $(BACKUP)

.PHONY: lint
lint: bootstrap ## ruff and mypy
	@.venv/bin/ruff check .
	@.venv/bin/ruff format --check .
	@.venv/bin/mypy libs/common/src services/*/src

.PHONY: unit
unit: bootstrap ## unit tests only (no infrastructure)
	@.venv/bin/pytest libs/common/tests services/*/tests/unit -q

KUSTOMIZE_VERSION := v5.5.0
KEDA_VERSION := v2.16.1

.PHONY: tools
tools: ## kustomize (through the Go module proxy) into .state/bin, for rendering the Kubernetes manifests in the tests
	@test -x $(STATE)/bin/kustomize || { command -v go >/dev/null || { echo "[tools] Go is needed to install kustomize"; exit 1; }; \
	  mkdir -p $(STATE)/bin && echo "[tools] go install kustomize $(KUSTOMIZE_VERSION)" && \
	  GOBIN=$(STATE)/bin go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); }
	@test -s $(STATE)/crds/keda.sh_scaledobjects.yaml || { echo "[tools] KEDA $(KEDA_VERSION)'s ScaledObject CRD" && \
	  dir=$$(cd /tmp && go mod download -json github.com/kedacore/keda/v2@$(KEDA_VERSION) | sed -n 's/.*"Dir": "\(.*\)",/\1/p') && \
	  mkdir -p $(STATE)/crds && cp "$$dir/config/crd/bases/keda.sh_scaledobjects.yaml" $(STATE)/crds/; }

.PHONY: test
test: bootstrap infra-up tools lint ## lint, unit, integration and end-to-end tests against real Kafka, Postgres, Redis
	@$(WITH_ENV) .venv/bin/pytest libs/common/tests services tests -q -rfE --durations=10

.PHONY: bench
bench: bootstrap infra-up ## the benchmarks (inventory, the storefront home, then end to end over the running platform): tables, JSON in bench/results/
	@$(WITH_ENV) $(PY) -m bench.inventory
	@$(WITH_ENV) $(PY) -m bench.storefront
	@$(WITH_ENV) $(PY) -m bench.e2e $(E2E_ARGS)

.PHONY: chaos
chaos: bootstrap ## faults under load on a platform of its own (10 min; CHAOS_ARGS="--rate 2 --minutes 3"): counts printed, JSON in bench/results/
	@$(PY) -m bench.chaos $(CHAOS_ARGS)

.PHONY: docs
docs: bootstrap ## AsyncAPI documents of every service into docs/asyncapi/
	@mkdir -p docs/asyncapi
	@for s in gateway order inventory delivery risk commission notification merchant; do \
	  .venv/bin/faststream docs gen $$s.entrypoints.app:asyncapi --out docs/asyncapi/$$s.json >/dev/null; \
	  echo "docs/asyncapi/$$s.json"; done

.PHONY: dlq
dlq: ## list dead letters of TOPIC, e.g. make dlq TOPIC=order.events.dlq
	@$(WITH_ENV) .venv/bin/faka-dlq list $(TOPIC)
