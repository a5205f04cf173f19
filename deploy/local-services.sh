#!/usr/bin/env bash
# Start the local RabbitMQ and PostgreSQL if they are installed and down, and wait for them.
# Says clearly what to do when one is not installed.
set -uo pipefail

wait_for() {  # name, seconds, command...
  local name=$1 seconds=$2; shift 2
  for _ in $(seq "$seconds"); do
    if "$@" >/dev/null 2>&1; then echo "  $name is up"; return 0; fi
    sleep 1
  done
  echo "ERROR: $name did not come up within ${seconds}s" >&2
  return 1
}

# Every CLI call has a timeout: a RabbitMQ CLI call can hang (an Erlang node that does not answer).
rabbit_up() { timeout 30 rabbitmq-diagnostics -q check_port_connectivity >/dev/null 2>&1; }
rabbit_listening() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
# RabbitMQ 3.10 budgets files and sockets against its soft open-files limit (1024 on many
# machines) and stalls once queues take that budget (docs/operations.md): the node starts with
# its soft limit raised to the hard one, set as the broker's user (su's PAM session resets it).
start_rabbit() {
  local server=/usr/lib/rabbitmq/bin/rabbitmq-server
  if [ "$(id -u)" = 0 ] && [ -x "$server" ] && id rabbitmq >/dev/null 2>&1; then
    timeout 60 su rabbitmq -s /bin/sh -c \
      "ulimit -n \"\$(ulimit -Hn)\" 2>/dev/null; cd /var/lib/rabbitmq && $server -detached" >/dev/null 2>&1 || true
  else
    timeout 60 rabbitmq-server -detached >/dev/null 2>&1 || true
  fi
}
pg_up() { timeout 10 pg_isready -q -h localhost -p 5432; }
# The cluster on port 5432 (pg_lsclusters: version, name), else the first one installed.
pg_cluster() {
  local line
  line=$(pg_lsclusters --no-header 2>/dev/null | awk '$3 == 5432 {print $1, $2; exit}')
  [ -n "$line" ] || line="$(ls /etc/postgresql | sort -n | tail -1) main"
  echo "$line"
}

status=0
if command -v rabbitmq-server >/dev/null 2>&1; then
  if rabbit_listening; then
    # something listens on 5672: never start a second node beside it, even if it answers slowly
    wait_for RabbitMQ 90 rabbit_up || status=1
  else
    echo "  starting RabbitMQ (rabbitmq-server -detached)"
    start_rabbit
    wait_for RabbitMQ 90 rabbit_up || status=1
  fi
else
  echo "RabbitMQ is not installed: apt-get install rabbitmq-server, or set AMQP_URI to a broker" >&2
  status=1
fi

if command -v pg_isready >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
  if ! pg_up; then
    read -r pg_version pg_name <<<"$(pg_cluster)"
    echo "  starting PostgreSQL (pg_ctlcluster --skip-systemctl-redirect $pg_version $pg_name start)"
    timeout 90 pg_ctlcluster --skip-systemctl-redirect "$pg_version" "$pg_name" start >/dev/null 2>&1 || true
    wait_for PostgreSQL 60 pg_up || status=1
  else
    echo "  PostgreSQL is up"
  fi
else
  echo "PostgreSQL is not installed: apt-get install postgresql (the tests need it; the demo falls back to SQLite)" >&2
  status=1
fi

# Tools some tests drive, from Debian: Chromium with a CJK font (the console's browser test),
# docker-compose (the static `config` check of deploy/docker-compose.yml; no engine needed) and
# poppler-utils (pdftotext reads the printed forms back). Installed when we may, else said how
# (those tests are skipped without them).
missing=""
command -v chromium >/dev/null 2>&1 || missing="$missing chromium fonts-wqy-microhei"
command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || missing="$missing docker-compose"
command -v pdftotext >/dev/null 2>&1 || missing="$missing poppler-utils"
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "  installing test tools (apt-get install$missing)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q $missing >/dev/null 2>&1 \
      || echo "  WARNING: could not install$missing; the tests that need them will be skipped" >&2
  else
    echo "  NOTE: missing$missing: apt-get install$missing (else the tests that need them are skipped)" >&2
  fi
fi
exit $status
