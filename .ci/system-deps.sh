#!/usr/bin/env bash
# Install the Debian packages the stack and the tests need, when missing.
# As root: apt-get update once, then install. Otherwise: one line naming each package.
# Usage: .ci/system-deps.sh demo|test
set -euo pipefail
mode="${1:-demo}"
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v prometheus >/dev/null && command -v promtool >/dev/null || need+=(prometheus)
command -v mvn >/dev/null || need+=(maven)
command -v useradd >/dev/null || need+=(passwd)
if [ "$mode" = test ]; then
  command -v chromium >/dev/null || need+=(chromium)
  command -v chromedriver >/dev/null || need+=(chromium-driver)
  command -v pdfinfo >/dev/null || need+=(poppler-utils)  # the PDF tests count pages
fi
jdk_ok() {
  for r in /usr/lib/jvm/*/release; do
    [ -f "$r" ] || continue
    v=$(sed -n 's/^JAVA_VERSION="\([0-9]*\).*/\1/p' "$r")
    [ -n "$v" ] && [ "$v" -ge 21 ] && return 0
  done
  return 1
}
jdk_pkg=""
if ! jdk_ok; then jdk_pkg=temurin-25-jdk; fi
if [ ${#need[@]} -eq 0 ] && [ -z "$jdk_pkg" ]; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  for p in "${need[@]}"; do echo "missing Debian package '$p': install it (sudo apt-get install $p) or run make as root"; done
  [ -n "$jdk_pkg" ] && echo "missing a JDK >= 21 under /usr/lib/jvm: install one (e.g. $jdk_pkg) or set TRIBUTARY_ES_JAVA_HOME"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ ${#need[@]} -gt 0 ]; then
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ -n "$jdk_pkg" ]; then
  if apt-cache show "$jdk_pkg" >/dev/null 2>&1; then
    apt-get install -y -qq --no-install-recommends "$jdk_pkg"
  else
    for p in openjdk-25-jdk-headless openjdk-21-jdk-headless; do
      if apt-cache show "$p" >/dev/null 2>&1; then apt-get install -y -qq --no-install-recommends "$p"; break; fi
    done
  fi
  jdk_ok || echo "no JDK >= 21 could be installed from the configured apt sources: add the Adoptium (Temurin) apt repository, or set TRIBUTARY_ES_JAVA_HOME"
fi
