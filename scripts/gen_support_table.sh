#!/usr/bin/env bash
# Regenerates the support table of docs/sql-reference.md (between its BEGIN/END supported
# constructs markers) from the registry src/core/constructs.cpp. The unit test
# Constructs.DocsTableMatchesTheRegistry fails while the docs differ from the registry.
# Usage: scripts/gen_support_table.sh [--check]   (--check: exit 1 if the docs are out of date)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD=$(mktemp -d /tmp/pgt_support_table.XXXXXX)
trap 'rm -rf "$BUILD"' EXIT
# Only the registry and the printer: no need for the rest of the CMake project.
g++ -std=c++17 -O0 -I"$ROOT/src" "$ROOT/src/core/constructs.cpp" "$ROOT/tools/construct_table.cpp" \
	-o "$BUILD/construct_table"
"$BUILD/construct_table" >"$BUILD/table.md"
DOC=$ROOT/docs/sql-reference.md
awk -v table="$BUILD/table.md" '
	/^<!-- BEGIN supported constructs/ { print; while ((getline l < table) > 0) print l; skip = 1; next }
	/^<!-- END supported constructs -->/ { skip = 0 }
	!skip { print }' "$DOC" >"$BUILD/doc.md"
grep -q '^<!-- BEGIN supported constructs' "$DOC" || { echo "no BEGIN marker in $DOC" >&2; exit 1; }
if [[ ${1:-} == --check ]]; then
	diff -u "$DOC" "$BUILD/doc.md" && echo "docs/sql-reference.md is up to date"
	exit
fi
if cmp -s "$DOC" "$BUILD/doc.md"; then
	echo "docs/sql-reference.md is up to date"
else
	cp "$BUILD/doc.md" "$DOC"
	echo "docs/sql-reference.md: support table regenerated"
fi
