#!/usr/bin/env bash
# Runs every fuzz target of the websocket package for a short time each.
# Usage: test/fuzz.sh [FUZZTIME]     (default 10s per target; CI calls it)
# A failing input is written to websocket/testdata/fuzz/<Target>/ by go test:
# commit it with the fix, it then runs with every go test.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-${FUZZTIME:-10s}}"
# Minimising each new interesting input may take up to a minute by default,
# which would eat a short run; a crasher is still minimised within this.
minimize="${FUZZMINIMIZETIME:-2s}"

# go test -fuzz takes one target at a time: list them, run each.
targets=$(go test -list '^Fuzz' ./websocket | grep '^Fuzz' || true)
if [ -z "$targets" ]; then
	echo "no fuzz targets found in ./websocket" >&2
	exit 1
fi
for t in $targets; do
	echo "== fuzz $t for $fuzztime"
	go test -run '^$' -fuzz "^${t}\$" -fuzztime "$fuzztime" -fuzzminimizetime "$minimize" ./websocket
done
