#!/usr/bin/env bash
# Start PostgreSQL and Redis on 127.0.0.1 when they are installed but not running, so the
# accounts tests run against real servers instead of skipping. Never fails the build by itself:
# a test that needs a server that is truly absent skips and says why.
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! port_open 5432 && command -v pg_ctlcluster >/dev/null 2>&1; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -n "$version" ]; then
    echo "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || echo "could not start PostgreSQL"
  fi
fi

if ! port_open 6379 && command -v redis-server >/dev/null 2>&1; then
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || echo "could not start Redis"
fi

for _ in $(seq 1 50); do
  { port_open 5432 || ! command -v pg_ctlcluster >/dev/null 2>&1; } && { port_open 6379 || ! command -v redis-server >/dev/null 2>&1; } && break
  sleep 0.2
done
exit 0
