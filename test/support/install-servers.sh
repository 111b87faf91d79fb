#!/usr/bin/env bash
# Installs the real test servers if they are missing; idempotent and quick when already installed.
#   test/support/install-moto.sh   S3-protocol server (moto, PyPI) in a venv under test/support/.servers
#   test/support/install-hdfs.sh   Hadoop MiniDFSCluster launcher built with Maven
set -euo pipefail
cd "$(dirname "$0")"
status=0
for part in install-moto.sh install-hdfs.sh; do
  if [ -f "$part" ]; then
    bash "$part" || { echo "!!! $part failed; tests needing that server will skip (or fail under FLOE_REQUIRE_SERVERS=1)" >&2; status=1; }
  fi
done
# Do not fail `make test` here: run-tests decides (skip loudly, or fail under FLOE_REQUIRE_SERVERS=1).
exit 0
