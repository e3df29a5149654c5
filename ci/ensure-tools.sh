#!/usr/bin/env bash
# Install the system tools campaign-intake's tests/CI need, only when missing.
#   - ffmpeg         (video trimming; provides ffmpeg + ffprobe)
#   - dovecot-imapd  (real IMAP server for integration tests, see ci/dovecot-start.sh)
#   - chromium       (the publication opened in a browser, driven by playwright-core)
# Idempotent and quiet on success; prints apt output only on failure.
# Usage: sudo ci/ensure-tools.sh   (or as root in CI containers)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -E"; else
    echo "ensure-tools: not root and no sudo; cannot install packages" >&2; exit 1
  fi
fi

missing=()
command -v ffmpeg  >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
{ command -v dovecot >/dev/null 2>&1 || [ -x /usr/sbin/dovecot ]; } \
  && [ -x /usr/lib/dovecot/imap ] || missing+=(dovecot-imapd)
# The publication's browser test: Debian's Chromium, with fonts for Latin and Cyrillic (Tajik letters too).
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core fonts-liberation)

[ ${#missing[@]} -eq 0 ] && exit 0

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# apt lists may be absent in fresh containers; update only if install fails the first time.
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$log" 2>&1; then
  if ! { $SUDO apt-get update -qq && \
         $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    echo "ensure-tools: failed to install: ${missing[*]}" >&2
    tail -n 40 "$log" >&2
    exit 1
  fi
fi

# On systemd hosts installing dovecot-imapd starts a system-wide Dovecot on 143/993 on
# all interfaces. Tests use their own instance (ci/dovecot-start.sh), so switch it off.
if [[ " ${missing[*]} " == *" dovecot-imapd "* ]] && [ -d /run/systemd/system ] \
   && command -v systemctl >/dev/null 2>&1; then
  $SUDO systemctl disable --now dovecot.service dovecot.socket >/dev/null 2>&1 || true
fi
