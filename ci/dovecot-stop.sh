#!/usr/bin/env bash
# Stop the test Dovecot started by ci/dovecot-start.sh (same DOVECOT_DIR).
# Only touches the master process recorded in $DOVECOT_DIR/run/master.pid, and only
# if that process really is a dovecot started with $DOVECOT_DIR/dovecot.conf.
# Idempotent: exits 0 when nothing is running. Mail data is kept; to also delete
# everything pass --purge (removes $DOVECOT_DIR).
#   ci/dovecot-stop.sh [--quiet] [--purge]
set -euo pipefail

DOVECOT_DIR="${DOVECOT_DIR:-/tmp/intake-dovecot}"
CONF="$DOVECOT_DIR/dovecot.conf"
PIDFILE="$DOVECOT_DIR/run/master.pid"
quiet=no purge=no
for a in "$@"; do
  case "$a" in
    --quiet) quiet=yes ;;
    --purge) purge=yes ;;
    *) echo "usage: $0 [--quiet] [--purge]" >&2; exit 2 ;;
  esac
done
say() { [ "$quiet" = yes ] || echo "dovecot-stop: $*" >&2; }

is_ours() { # pid -> true if it is our dovecot master
  local pid=$1 cmd
  [ -r "/proc/$pid/cmdline" ] || return 1
  cmd="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
  [[ "$cmd" == *dovecot* && "$cmd" == *"$CONF"* ]]
}

if [ -f "$PIDFILE" ]; then
  pid="$(tr -dc '0-9' < "$PIDFILE")"
  if [ -n "$pid" ] && is_ours "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do            # up to 10 s
      is_ours "$pid" || break
      sleep 0.2
    done
    if is_ours "$pid"; then
      say "master $pid did not exit after SIGTERM, sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.3
    fi
    say "stopped dovecot (pid $pid, $CONF)"
  else
    say "stale pid file (pid '${pid:-?}' is not our dovecot), removing it"
  fi
  rm -f "$PIDFILE"
else
  say "not running ($PIDFILE absent)"
fi

if [ "$purge" = yes ]; then
  case "$DOVECOT_DIR" in
    /|/tmp|/root|/home|/var|"") echo "dovecot-stop: refusing to purge '$DOVECOT_DIR'" >&2; exit 1 ;;
  esac
  rm -rf "${DOVECOT_DIR:?}"
  say "purged $DOVECOT_DIR"
fi
