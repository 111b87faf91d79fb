#!/usr/bin/env bash
# Installs the S3-protocol test server (moto, from PyPI) into a private venv:
#   test/support/.servers/moto-venv   (gitignored)
# Idempotent: when the pinned version is already installed this is a quick no-op (~0.2 s).
# Why moto: it enforces conditional writes (If-None-Match: *), which s3rver ignores; see docs/s3.md.
set -euo pipefail
MOTO_VERSION=5.2.5
cd "$(dirname "$0")"
VENV=.servers/moto-venv
PY="$VENV/bin/python"
installed() {
  [ -x "$PY" ] && [ "$("$PY" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null || true)" = "$MOTO_VERSION" ] \
    && "$PY" -c 'import moto.server' 2>/dev/null
}
if installed; then
  exit 0
fi
command -v python3 >/dev/null || { echo "install-moto: python3 is required (e.g. apt-get install python3 python3-venv)" >&2; exit 1; }
echo "install-moto: installing moto[server]==$MOTO_VERSION into test/support/$VENV (about a minute)" >&2
mkdir -p .servers
rm -rf "$VENV"
python3 -m venv "$VENV" || { echo "install-moto: 'python3 -m venv' failed; install the venv module (e.g. apt-get install python3-venv)" >&2; exit 1; }
"$PY" -m pip install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
installed || { echo "install-moto: moto $MOTO_VERSION does not import after installing" >&2; exit 1; }
echo "install-moto: moto $MOTO_VERSION installed in test/support/$VENV" >&2
