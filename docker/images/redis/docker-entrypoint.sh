#!/bin/bash
# Entrypoint of the local redis stand-in. Debian's redis-server defaults to protected
# mode, which refuses every client from outside the container when there is no password;
# the official image turns it off, so this one does too unless the caller decides.
set -euo pipefail

if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then set -- redis-server "$@"; fi

if [ "$1" = 'redis-server' ]; then
  if ! printf '%s\n' "$@" | grep -q -- 'protected-mode'; then
    set -- "$@" --protected-mode no
  fi
  if [ "$(id -u)" = '0' ]; then
    find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
    exec setpriv --reuid=redis --regid=redis --init-groups "$@"
  fi
fi
exec "$@"
