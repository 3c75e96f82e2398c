#!/usr/bin/env bash
# Installs everything the devstack and the tests run: the real daemons from Debian's packages,
# pnpm, and the workspace's npm dependencies (from the lockfile). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  redis-server redis-tools mariadb-server mariadb-client nginx
  prometheus prometheus-alertmanager prometheus-redis-exporter prometheus-mysqld-exporter
  postgresql patroni etcd-server etcd-client haproxy pgbouncer python3-etcd python3-psycopg2
  pgbackrest supervisor curl ca-certificates procps iproute2
)

sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  # The packaged services would start on their default ports (nginx :80, prometheus :9090, ...);
  # the devstack runs its own instances, so keep the packaged ones from starting.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | sudo_ tee /usr/sbin/policy-rc.d >/dev/null
    sudo_ chmod +x /usr/sbin/policy-rc.d
  fi
  export DEBIAN_FRONTEND=noninteractive
  for attempt in 1 2 3 4 5; do
    if sudo_ apt-get update -q && sudo_ apt-get install -y -q --no-install-recommends "${missing[@]}"; then break; fi
    [ "$attempt" = 5 ] && { echo "bootstrap: apt-get install failed" >&2; exit 1; }
    echo "bootstrap: apt-get failed (attempt $attempt), retrying in 10 s" >&2; sleep 10
  done
fi

want_pnpm=$(node -p "require('./package.json').packageManager.split('@')[1]")
if [ "$(pnpm --version 2>/dev/null || true)" != "$want_pnpm" ]; then
  echo "bootstrap: installing pnpm $want_pnpm"
  sudo_ npm install -g "pnpm@$want_pnpm" >/dev/null
fi

pnpm install --frozen-lockfile
