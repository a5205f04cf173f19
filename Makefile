# Baodao: `make demo` sets everything up and runs the demo; `make test` runs the tests.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PYTHONWARNINGS := ignore
# The local broker is a single node: classic queues for the demos and tests. Deployments keep the
# code's default, quorum (deploy/docker-compose.yml, deploy/k8s). RabbitMQ 3.10 here stalled
# creating vhosts after a demo had declared ~150 quorum queues (README, "Queue types").
export QUEUE_TYPE ?= classic

.PHONY: setup services demo console faults test bench topology clean cluster cluster-status cluster-stop

setup: $(VENV)/.installed services

$(VENV)/.installed: pyproject.toml
	@command -v $(PY) >/dev/null || { echo "needs $(PY) (Python 3.11)"; exit 1; }
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<81" wheel
	$(BIN)/pip install -q -e ".[test,bench]"
	@touch $@

services:
	@bash deploy/local-services.sh

# The whole demo: the check-in campaign and a week of dispatch, then a year's evaluation, the
# notifications with their channels, webhook and feedback report, and a year of the special fund.
demo: setup
	$(BIN)/python -m deploy.demo
	$(BIN)/python -m deploy.demo_evaluation
	$(BIN)/python -m deploy.demo_notify
	$(BIN)/python -m deploy.demo_funds

console: setup
	$(BIN)/python -m services.gateway.serve --demo

faults: setup
	$(BIN)/python -m tests.faults

# Two pytest sessions side by side (tests/run.py); `$(BIN)/python -m tests.run <args>` runs one
# ordinary pytest session with those arguments.
test: setup
	$(BIN)/python -m tests.run

# Three clustered RabbitMQ nodes and a PostgreSQL primary with a standby, on ports of their own
# (deploy/cluster.py); the machine's RabbitMQ and PostgreSQL are not touched.
cluster: setup
	$(BIN)/python -m deploy.cluster start

cluster-status: setup
	$(BIN)/python -m deploy.cluster status

cluster-stop: setup
	$(BIN)/python -m deploy.cluster stop

bench: setup
	$(BIN)/python -m bench.eventstore

topology: setup
	$(BIN)/python -m deploy.topology

clean:
	rm -rf $(VENV) var *.egg-info
