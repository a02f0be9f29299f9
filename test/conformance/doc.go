// Package conformance holds the RFC 6455 conformance suite of Duplex. It has
// no code of its own: the tests drive the real `duplex echo` server and the
// real `duplex echo-client` fuzzing-server driver from raw sockets, one test
// per case of the public Autobahn TestSuite catalogue (groups 1–7, 9 and 10,
// case IDs in the test names), plus the parts of RFC 6455 the catalogue does
// not reach: the opening handshake on both sides, masking rules, frame
// lengths and frames split across TCP writes.
//
// Run it with
//
//	go test -race ./test/conformance/
//
// docs/conformance.md maps the tests to the catalogue, lists what is scaled
// down, and explains how to run the real Autobahn TestSuite.
package conformance
