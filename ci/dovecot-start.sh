#!/usr/bin/env bash
# Start a throw-away Dovecot 2.3 IMAP server for campaign-intake tests / CI.
#
#   export $(ci/dovecot-start.sh)         # sets DOVECOT_CONF, DOVECOT_DIR, TEST_IMAP_URL
#   ci/dovecot-start.sh >> "$GITHUB_ENV"  # GitHub Actions
#
# stdout: only KEY=VALUE lines (no spaces/quotes in values); progress and errors go to stderr.
# Idempotent: stops an instance previously started by this script (same DOVECOT_DIR)
# and starts a fresh server process. Mail data survives restarts unless DOVECOT_RESET=1.
#
# Env (all optional):
#   DOVECOT_DIR            temp folder for everything          (default /tmp/intake-dovecot)
#   DOVECOT_PORT           IMAP port on 127.0.0.1               (default 10143)
#   DOVECOT_MAIL_UID/GID   owner of the mail files, never root  (default 65534/65534)
#   DOVECOT_RESET=1        wipe the mail store before starting
#   DOVECOT_START_TIMEOUT  seconds to wait for the IMAP greeting (default 20)
#
# Must run as root (dovecot master binds the port and switches to dovenull/dovecot/65534);
# doveadm-based seeding (tests/helpers/dovecot.ts) needs root as well.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DOVECOT_DIR="${DOVECOT_DIR:-/tmp/intake-dovecot}"
DOVECOT_PORT="${DOVECOT_PORT:-10143}"
MAIL_UID="${DOVECOT_MAIL_UID:-65534}"
MAIL_GID="${DOVECOT_MAIL_GID:-65534}"
TIMEOUT="${DOVECOT_START_TIMEOUT:-20}"
IMAP_USER=intake
IMAP_PASS=intake-test
TEMPLATE="$here/dovecot/dovecot.conf.template"
CONF="$DOVECOT_DIR/dovecot.conf"
LOG="$DOVECOT_DIR/dovecot.log"
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "dovecot-start: $*" >&2; }
die() { echo "dovecot-start: ERROR: $*" >&2; exit 1; }
log_tail() {
  if [ -s "$LOG" ]; then
    echo "---- last 30 lines of $LOG ----" >&2
    tail -n 30 "$LOG" >&2
    echo "-------------------------------" >&2
  fi
}

# ---- sanity ----------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "must run as root (try: sudo -E $0)"
[[ "$DOVECOT_DIR" =~ ^/[A-Za-z0-9._/-]+$ ]] && [ "$DOVECOT_DIR" != "/" ] \
  || die "DOVECOT_DIR must be an absolute path of [A-Za-z0-9._/-] characters, got '$DOVECOT_DIR'"
[[ "$DOVECOT_PORT" =~ ^[0-9]+$ ]] && [ "$DOVECOT_PORT" -gt 0 ] && [ "$DOVECOT_PORT" -lt 65536 ] \
  || die "DOVECOT_PORT must be a TCP port number, got '$DOVECOT_PORT'"
[[ "$MAIL_UID" =~ ^[0-9]+$ && "$MAIL_GID" =~ ^[0-9]+$ ]] || die "DOVECOT_MAIL_UID/GID must be numeric"
[ "$MAIL_UID" -ne 0 ] && [ "$MAIL_GID" -ne 0 ] || die "the mail user must not be root (uid/gid 0)"
[ -f "$TEMPLATE" ] || die "template not found: $TEMPLATE"

# ---- install dovecot if missing --------------------------------------------
if ! command -v dovecot >/dev/null 2>&1 || [ ! -x /usr/lib/dovecot/imap ]; then
  say "installing dovecot-imapd with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  aptlog="$(mktemp)"
  if ! apt-get install -y -qq --no-install-recommends dovecot-imapd >"$aptlog" 2>&1; then
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends dovecot-imapd; } >"$aptlog" 2>&1 \
      || { tail -n 40 "$aptlog" >&2; rm -f "$aptlog"; die "apt-get install dovecot-imapd failed"; }
  fi
  rm -f "$aptlog"
  # On systemd hosts the package starts a system-wide dovecot on 143/993 on all
  # interfaces; we installed it only for tests, so switch that one off.
  if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
  fi
fi

version="$(dovecot --version 2>/dev/null | awk '{print $1}')"
case "$version" in
  2.3.*) ;;
  *) die "Dovecot $version found; $TEMPLATE is written for Dovecot 2.3 (Debian 12).
Dovecot 2.4 renamed many settings (auth_allow_cleartext, mail_driver/mail_path, passdb blocks ...)
and needs its own template." ;;
esac

# ---- system users required by the config -----------------------------------
ensure_user() { # name home comment
  if ! getent passwd "$1" >/dev/null; then
    say "creating system user $1"
    useradd --system --user-group --no-create-home --home-dir "$2" \
            --shell /usr/sbin/nologin --comment "$3" "$1"
  fi
}
ensure_user dovecot  /usr/lib/dovecot "Dovecot mail server"
ensure_user dovenull /nonexistent     "Dovecot login user"

# ---- stop a previous instance of ours --------------------------------------
DOVECOT_DIR="$DOVECOT_DIR" "$here/dovecot-stop.sh" --quiet

# ---- the port must be free now ---------------------------------------------
if (exec 3<>"/dev/tcp/127.0.0.1/$DOVECOT_PORT") 2>/dev/null; then
  who="$(ss -ltnpH "sport = :$DOVECOT_PORT" 2>/dev/null || true)"
  die "127.0.0.1:$DOVECOT_PORT is already in use by another process (not started from $DOVECOT_DIR):
${who:-<ss unavailable>}
Set DOVECOT_PORT (and DOVECOT_DIR) to run a second instance."
fi

# ---- temp folder layout ----------------------------------------------------
mkdir -p "$DOVECOT_DIR"
chown root:root "$DOVECOT_DIR"
chmod 0755 "$DOVECOT_DIR"          # dovenull/dovecot/mail uid must traverse it
if [ "${DOVECOT_RESET:-0}" = "1" ]; then
  say "DOVECOT_RESET=1: wiping $DOVECOT_DIR/home and $DOVECOT_DIR/state"
  rm -rf "${DOVECOT_DIR:?}/home" "${DOVECOT_DIR:?}/state"
fi
mkdir -p "$DOVECOT_DIR/run" "$DOVECOT_DIR/state" "$DOVECOT_DIR/home/$IMAP_USER"
chmod 0755 "$DOVECOT_DIR/home"
chown "$MAIL_UID:$MAIL_GID" "$DOVECOT_DIR/home/$IMAP_USER"
chmod 0700 "$DOVECOT_DIR/home/$IMAP_USER"

# passwd-file: user:password:uid:gid:(gecos):home:(shell):extra_fields
printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$IMAP_USER" "$IMAP_PASS" "$MAIL_UID" "$MAIL_GID" \
  "$DOVECOT_DIR/home/$IMAP_USER" > "$DOVECOT_DIR/passwd"
chown root:dovecot "$DOVECOT_DIR/passwd"
chmod 0640 "$DOVECOT_DIR/passwd"

sed -e "s|@@DIR@@|$DOVECOT_DIR|g" \
    -e "s|@@PORT@@|$DOVECOT_PORT|g" \
    -e "s|@@MAIL_UID@@|$MAIL_UID|g" \
    -e "s|@@MAIL_GID@@|$MAIL_GID|g" \
    "$TEMPLATE" > "$CONF.tmp"
mv "$CONF.tmp" "$CONF"
chmod 0644 "$CONF"

if ! err="$(doveconf -c "$CONF" -n 2>&1 >/dev/null)"; then
  die "generated config $CONF is invalid: $err"
fi

# ---- start -------------------------------------------------------------------
[ -f "$LOG" ] && mv -f "$LOG" "$LOG.1"
: > "$LOG"
# Dovecot's master keeps its stderr open for good, so never run it inside $(...)
# or a pipe: give it a file instead (otherwise the caller waits for EOF forever).
if ! dovecot -c "$CONF" </dev/null >/dev/null 2>"$DOVECOT_DIR/dovecot.stderr"; then
  cat "$DOVECOT_DIR/dovecot.stderr" >&2
  log_tail
  die "dovecot -c $CONF failed to start"
fi

# ---- wait for the IMAP greeting, then check that LOGIN works ---------------------
greeting=""
deadline=$(( SECONDS + TIMEOUT ))
while :; do
  # (the braces matter: `exec 3<>... 2>/dev/null` would silence this script's stderr for good)
  if { exec 3<>"/dev/tcp/127.0.0.1/$DOVECOT_PORT"; } 2>/dev/null; then
    if IFS= read -r -t 1 greeting <&3 && [[ "$greeting" == "* OK"* ]]; then
      break
    fi
    exec 3>&- 3<&- || true
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    log_tail
    DOVECOT_DIR="$DOVECOT_DIR" "$here/dovecot-stop.sh" --quiet || true
    die "no IMAP greeting on 127.0.0.1:$DOVECOT_PORT after ${TIMEOUT}s (log: $LOG)"
  fi
  sleep 0.2
done

printf 'a1 LOGIN %s %s\r\na2 LOGOUT\r\n' "$IMAP_USER" "$IMAP_PASS" >&3
login_ok=no
while IFS= read -r -t 5 line <&3; do
  line="${line%$'\r'}"
  case "$line" in
    "a1 OK"*) login_ok=yes ;;
    "a1 "*)   say "LOGIN answered: $line" ;;
    "a2 "*)   break ;;
  esac
done
exec 3>&- 3<&- || true
if [ "$login_ok" != yes ]; then
  log_tail
  die "IMAP server answers but LOGIN $IMAP_USER failed (log: $LOG)"
fi

# doveadm must work too (tests seed mail with it); this also creates ~/Maildir.
if ! err="$(doveadm -c "$CONF" mailbox status -u "$IMAP_USER" messages INBOX 2>&1 >/dev/null)"; then
  log_tail
  die "doveadm -c $CONF does not work: $err"
fi

say "Dovecot $version up on 127.0.0.1:$DOVECOT_PORT (pid $(cat "$DOVECOT_DIR/run/master.pid")), log $LOG"

lines=(
  "DOVECOT_CONF=$CONF"
  "DOVECOT_DIR=$DOVECOT_DIR"
  "TEST_IMAP_URL=imap://$IMAP_USER:$IMAP_PASS@127.0.0.1:$DOVECOT_PORT/INBOX"
)
printf '%s\n' "${lines[@]}"
