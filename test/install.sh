#!/usr/bin/env bash
# Installs the third-party peers that the tests talk to: Debian packages
# (Python websockets and autobahn, Chromium, nginx, tinyproxy, tmux) and the
# pinned npm packages of test/interop/node. Idempotent: when everything is
# present it only checks, and finishes in about a second.
#
# Usage: test/install.sh        (test.sh calls it first)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests need. Keep in step with docs/interop.md.
apt_packages=(
	python3-websockets # interop: Python websockets client and server
	python3-autobahn   # interop: autobahn client (asyncio)
	chromium           # interop: browser WebSocket client
	chromium-driver    # Chromium's WebDriver, for drivers that want it
	nginx              # interop: reverse proxy in front of our server
	tinyproxy          # interop: HTTP CONNECT proxy for our client
	tmux               # terminal tests of the CLI
)

missing=()
for p in "${apt_packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	echo "install.sh: installing ${missing[*]}"
	if [[ $(id -u) -ne 0 ]]; then
		echo "install.sh: need root for apt-get install ${missing[*]}; run as root or install them by hand" >&2
		exit 1
	fi
	# nginx and tinyproxy start a system service on install (ports 80 and
	# 8888). The tests run their own instances on free ports, so forbid
	# service starts for the duration of the install when no policy exists.
	policy=/usr/sbin/policy-rc.d
	made_policy=false
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy"
		chmod +x "$policy"
		made_policy=true
	fi
	cleanup_policy() { if $made_policy; then rm -f "$policy"; fi; }
	trap cleanup_policy EXIT

	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt_install() { apt-get install -y -qq "${missing[@]}" 2>&1; }
	if ! out=$(apt_install); then
		echo "$out" | tail -20
		# Another apt process may have cleaned the cache meanwhile
		# ("cannot access archive"): repair and retry once.
		echo "install.sh: apt-get install failed; running dpkg --configure -a and retrying once"
		dpkg --configure -a || true
		apt-get update -qq
		if ! out=$(apt_install); then
			echo "$out" | tail -40 >&2
			echo "install.sh: apt-get install ${missing[*]} failed twice; see the output above" >&2
			exit 1
		fi
	fi
	cleanup_policy
	trap - EXIT
fi

# npm packages, pinned by package-lock.json. npm ci wipes node_modules, so
# run it only when node_modules is missing or older than the lock file (npm
# writes node_modules/.package-lock.json on every install).
npm_ci() {
	local dir=$1
	[[ -f $dir/package-lock.json ]] || return 0
	if [[ $dir/node_modules/.package-lock.json -nt $dir/package-lock.json ]]; then
		return 0
	fi
	echo "install.sh: npm ci in $dir"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
}
npm_ci interop/node
npm_ci ../bench/uws
npm_ci tsc
