#!/usr/bin/env bash
# Installs the system packages that the lab and the tests need. On Debian as root it
# uses apt; anywhere else it says exactly what to install and fails.
set -euo pipefail

# command -> Debian package
declare -A NEEDED=(
  [python3]=python3
  [git]=git
  [initdb]=postgresql
  [psql]=postgresql-client
  [pgbouncer]=pgbouncer
  [redis-server]=redis-server
  [dockerd]=docker.io
  [busybox]=busybox-static
)

have() {
  case "$1" in
    initdb) ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 ;;
    busybox) [ -x /bin/busybox ] || command -v busybox >/dev/null 2>&1 ;;
    *) command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] ;;
  esac
}

missing=()
for command in "${!NEEDED[@]}"; do
  have "$command" || missing+=("${NEEDED[$command]}")
done
# venv and pip for Debian's own python3 (pyenv or other builds carry them already)
if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  missing+=(python3-venv)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Debian would start the packaged services; the lab runs its own on free ports.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  exit 0
fi

echo "install-deps: missing system packages: ${missing[*]}" >&2
echo "install-deps: on Debian/Ubuntu run as root: apt-get install ${missing[*]}" >&2
echo "install-deps: elsewhere install PostgreSQL 15+ server, PgBouncer, Redis 7, a Docker engine, busybox (static) and git" >&2
exit 1
