#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1. Start them when installed but stopped;
# install them with apt when missing and running as root; otherwise say what to install.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
REDIS_PORT=${REDIS_PORT:-6379}

say() { printf '[services] %s\n' "$*"; }

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT" 2>/dev/null; }
redis_up() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG
  else
    (exec 3<>/dev/tcp/127.0.0.1/"$REDIS_PORT") 2>/dev/null
  fi
}

apt_install() {
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    say "$1 is not installed and I cannot install it (need root and apt-get)."
    say "Install it yourself, e.g.: sudo apt-get install -y $2"
    exit 1
  fi
  say "installing $2 with apt-get (one time)…"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

if ! pg_up; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install PostgreSQL postgresql
    fresh_pg=1
  fi
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  say "starting PostgreSQL $version…"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null \
    || pg_ctlcluster "$version" main start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { say "PostgreSQL did not come up on $PG_HOST:$PG_PORT"; exit 1; }
  if [ "${fresh_pg:-0}" = 1 ]; then
    # A fresh Debian cluster asks for passwords over TCP: give postgres the one the tests use.
    su postgres -c "psql -q -c \"ALTER USER postgres PASSWORD 'postgres'\""
  fi
fi

if ! redis_up; then
  if ! command -v redis-server >/dev/null 2>&1; then
    apt_install Redis redis-server
  fi
  say "starting Redis…"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "${TMPDIR:-/tmp}" --logfile "${TMPDIR:-/tmp}/fh-redis.log"
  for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
  redis_up || { say "Redis did not come up on 127.0.0.1:$REDIS_PORT"; exit 1; }
fi
say "PostgreSQL and Redis are up."
