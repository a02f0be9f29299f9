#!/usr/bin/env bash
# Runs every test of the project, installing what the tests need first.
#
# Usage: ./test.sh            (CI runs exactly this, with CI=true)
#
# Sections, in order; the first failure stops the run:
#   install      test/install.sh: Debian and npm peers of the interop tests
#   peers        with CI=true, every peer must be present (no skipped tests)
#   gofmt        no file needs formatting
#   vet          go vet ./...
#   staticcheck  honnef.co/go/tools staticcheck, pinned below, for Linux, macOS and Windows
#   cross        the library and the command build for Windows, macOS, FreeBSD, Linux on arm64/386/arm/riscv64 (and the library for js/wasm); the whole module, tests included, vets on Windows, macOS and FreeBSD
#   test         go test -race -count=1 ./...  (unit, conformance, interop)
#   fuzz         test/fuzz.sh, when present
#   microbench   every go test -bench once, and the 0 allocs/op test
#   scale        test/scale without the race detector (its tests that hold a goroutine per connection)
#   tsc          test/tsc/check.sh: type check and node tests of web/
#   bench        go vet and go test of the bench module
set -Eeuo pipefail
cd "$(dirname "$0")"

STATICCHECK=honnef.co/go/tools/cmd/staticcheck@v0.8.2

run_start=$SECONDS
section=""
section_start=$SECONDS

# section NAME starts a section and prints how long the previous one took.
section() {
	end_section
	section=$1
	section_start=$SECONDS
	printf '\n==== %s ====\n' "$section"
}

end_section() {
	if [[ -n $section ]]; then
		printf '==== %s: ok (%ds)\n' "$section" $((SECONDS - section_start))
	fi
}

on_error() {
	local status=$?
	printf '\n==== FAILED in section "%s" (exit status %d) after %ds; see the output above.\n' \
		"$section" "$status" $((SECONDS - run_start)) >&2
	exit "$status"
}
trap on_error ERR

die() {
	printf '%s\n' "$*" >&2
	false
}

section install
test/install.sh

section peers
# Without CI=true a missing peer only skips its tests; in CI it is an error,
# reported here at once rather than test by test.
missing=()
/usr/bin/python3 -c 'import websockets' 2>/dev/null || missing+=("python3-websockets (Debian)")
/usr/bin/python3 -c 'import autobahn, txaio' 2>/dev/null || missing+=("python3-autobahn (Debian)")
[[ -f test/interop/node/node_modules/ws/package.json ]] || missing+=("ws (npm, test/interop/node)")
[[ -f bench/uws/node_modules/uws-js/package.json ]] || missing+=("uWebSockets.js (npm, bench/uws)")
for bin in node npm chromium nginx tinyproxy tmux; do
	command -v "$bin" >/dev/null || [[ -x /usr/sbin/$bin ]] || missing+=("$bin")
done
if ((${#missing[@]} > 0)); then
	if [[ ${CI:-} == true ]]; then
		die "CI=true and these peers are missing after test/install.sh: ${missing[*]}"
	fi
	echo "missing peers (their tests will be skipped): ${missing[*]}"
else
	echo "all peers present: $(/usr/bin/python3 -c 'import websockets, autobahn; print("websockets", websockets.version.version, "autobahn", autobahn.__version__)'), node $(node --version), ws $(node -p 'require("./test/interop/node/node_modules/ws/package.json").version'), $(chromium --version 2>/dev/null), $(nginx -v 2>&1), $(tinyproxy -v)"
fi

section gofmt
unformatted=$(find . -name '*.go' -not -path './.git/*' -not -path '*/node_modules/*' -print0 | xargs -0 gofmt -l)
if [[ -n $unformatted ]]; then
	die "gofmt: these files need formatting (run gofmt -w on them):
$unformatted"
fi
echo "all Go files formatted"

section vet
go vet ./...

section staticcheck
scbin=$(mktemp -d)
trap 'rm -rf "$scbin"' EXIT
GOBIN=$scbin go install "$STATICCHECK"
"$scbin/staticcheck" ./...
# Code only one system uses (the epoll loop) must not be left unused on
# the others.
for goos in darwin windows; do
	GOOS=$goos "$scbin/staticcheck" ./...
done

section cross
# The library and the command build wherever Go runs, not only on Linux
# amd64, where every other section runs: other systems, and Linux on other
# processors (system call numbers differ: arm64 has no epoll_wait, 386
# knows recvfrom only through socketcall).
for target in windows/amd64 darwin/arm64 freebsd/amd64 linux/arm64 linux/386 linux/arm linux/riscv64; do
	GOOS=${target%/*} GOARCH=${target#*/} go build ./websocket/... ./cmd/...
	# On the other systems the whole module, tests included, must build.
	pkgs=./...
	if [[ ${target%/*} == linux ]]; then
		pkgs=./websocket
	fi
	GOOS=${target%/*} GOARCH=${target#*/} go vet "$pkgs"
done
GOOS=js GOARCH=wasm go build ./websocket

section test
go test -race -count=1 ./...

if [[ -x test/fuzz.sh ]]; then
	section fuzz
	test/fuzz.sh
elif [[ -f test/fuzz.sh ]]; then
	section fuzz
	bash test/fuzz.sh
fi

section microbench
# Every micro-benchmark runs once so that none rots, and without the race
# detector the steady-state read and write paths are held to 0 allocs/op.
go test -count=1 -run 'TestSteadyStateAllocs|TestGoroutineModeStack' -bench . -benchtime 1x -benchmem ./websocket/ ./hub/ ./server/

section scale
# The race detector allows 8128 goroutines, so the tests that hold the
# most connections with a goroutine each (the default mode's, and the
# heartbeat test's clients that read) are built only without it; run them.
go test -count=1 ./test/scale/

section tsc
test/tsc/check.sh

section bench
(cd bench && go vet ./... && go test ./...)

end_section
section=""
printf '\n==== all sections passed in %ds\n' $((SECONDS - run_start))
