#!/usr/bin/env bash
# Installs everything pg_trickle needs to build and test on Debian 12 (as root). Idempotent: when
# every package is already installed it does nothing, so reruns are fast.
set -euo pipefail

PACKAGES=(
	build-essential g++ make cmake git ca-certificates pkg-config
	postgresql-15 postgresql-server-dev-15 libpq-dev
	googletest libgtest-dev libgmock-dev libbenchmark-dev
	clang-format
	# The exporter test (tests/e2e/exporter_test.cpp) runs the real exporter against its cluster.
	prometheus-postgres-exporter
)

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
	[[ $status == ii* ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -eq 0 ]]; then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}" >&2
	echo "install-deps: run this script as root to install them" >&2
	exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
