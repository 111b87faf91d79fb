#!/usr/bin/env bash
# Builds Floe's test HDFS: a MiniDFSCluster launcher (test/support/hdfs, Maven) whose runtime classpath is
# copied into test/support/hdfs/target/lib (build output, not committed). The jars come from Maven Central
# (org.apache.hadoop:hadoop-client-minicluster and friends, ~90 MiB, cached in ~/.m2).
# Idempotent: when the launcher jar is newer than pom.xml and the Java source, this is a quick no-op.
# See docs/hdfs.md.
set -euo pipefail
cd "$(dirname "$0")/hdfs"
STAMP=target/lib/.floe-complete
if [ -f target/hdfs-launcher.jar ] && [ -f "$STAMP" ] && \
   [ -z "$(find pom.xml src -newer "$STAMP" -print -quit)" ]; then
  exit 0
fi
if ! command -v mvn >/dev/null || ! command -v java >/dev/null; then
  # The machine image ships Java 17 and Maven; install them if a bare machine lacks them.
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "install-hdfs: installing Java 17 and Maven with apt-get" >&2
    apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q openjdk-17-jdk-headless maven >/dev/null
  else
    echo "install-hdfs: Java 17 and Maven are required (apt-get install openjdk-17-jdk-headless maven)" >&2
    exit 1
  fi
fi
java_major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
if [ "${java_major:-0}" -lt 17 ] 2>/dev/null; then
  echo "install-hdfs: Java 17 or newer is required, found ${java_major:-unknown}" >&2
  exit 1
fi
rm -rf target/lib
mvn -q -B -Dstyle.color=never package
touch "$STAMP"
echo "install-hdfs: built test/support/hdfs/target/hdfs-launcher.jar with $(ls target/lib | wc -l) runtime jars"
