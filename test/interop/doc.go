// Package interop tests the websocket package against real third-party
// peers: Python websockets and autobahn, Node ws, headless Chromium, nginx
// as a reverse proxy and tinyproxy as an HTTP CONNECT proxy.
//
// Each test starts its peer as a subprocess on a free loopback port and
// stops it when the test ends. test/install.sh installs the peers; without
// one a test is skipped, except when CI=true, where a missing peer fails.
// docs/interop.md lists the peers, their versions and the quirks found.
package interop
