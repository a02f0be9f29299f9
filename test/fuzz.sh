#!/usr/bin/env bash
# Runs every fuzz target of the websocket package for a short time each.
# Usage: test/fuzz.sh [FUZZTIME]     (default 80000x: executions per target,
#                                     5 to 15 s each here; CI calls it)
# A failing input is written to websocket/testdata/fuzz/<Target>/ by go test:
# commit it with the fix, it then runs with every go test.
#
# The default budget is a count, not a duration: with a duration, Go 1.26's
# fuzzing coordinator can report its own deadline as a failure
# ("context deadline exceeded", no failing input; golang/go#75804, fixed in
# Go 1.27). A count never arms that deadline.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-${FUZZTIME:-80000x}}"
# Minimising each new interesting input may take up to a minute by default,
# which would eat a short run; a crasher is still minimised within this.
minimize="${FUZZMINIMIZETIME:-2000x}"

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
