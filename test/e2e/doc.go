// Package e2e holds end-to-end tests of "duplex serve" with its demo page in
// headless Chromium: two pages chat, lose their connections, recover what
// they missed, and survive a server restart. The tests build the duplex
// binary and run it as a process; they need Debian's chromium (test/install.sh
// installs it) and fail without it when CI=true.
package e2e
