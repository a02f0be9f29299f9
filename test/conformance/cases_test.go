package conformance_test

import (
	"strings"
)

// roles says which implementation a case applies to.
type roles int

const (
	bothRoles  roles = iota
	serverOnly       // only when testing our server (we play the client)
	clientOnly       // only when testing our client (we play the server)
)

// wsCase is one conformance case. The script is written once for both
// roles: p masks or not according to the side it plays, and its
// expectations hold for a server and a client alike.
type wsCase struct {
	// id is the Autobahn TestSuite case ID ("6.4.3"), or for cases outside
	// the catalogue a label starting with "RFC6455_".
	id   string
	desc string
	only roles
	// big cases move megabytes; they run with the scaled sizes described
	// in docs/conformance.md unless CONFORMANCE_FULL=1.
	big bool
	// withHandshake returns bytes to send in the same write as the
	// opening handshake (request or 101 response).
	withHandshake func(p *peer) []byte
	run           func(p *peer)
}

// name is the subtest name: Case_6_4_3 or the RFC label.
func (c wsCase) name() string {
	if strings.HasPrefix(c.id, "RFC") {
		return c.id
	}
	return "Case_" + strings.ReplaceAll(c.id, ".", "_")
}

func (c wsCase) appliesTo(testingServer bool) bool {
	switch c.only {
	case serverOnly:
		return testingServer
	case clientOnly:
		return !testingServer
	}
	return true
}

// allCases is the whole suite, in catalogue order.
func allCases() []wsCase {
	var cs []wsCase
	for _, g := range []func() []wsCase{
		group1, group2, group3, group4, group5, group6, group7, group9, group10, rfcCases,
	} {
		cs = append(cs, g()...)
	}
	return cs
}

// echoCase sends frames in one write and expects the echo of message op
// with payload, then a normal close.
func echoCase(id, desc string, op byte, payload []byte, frames func(p *peer) [][]byte) wsCase {
	return wsCase{id: id, desc: desc, run: func(p *peer) {
		p.send(frames(p)...)
		p.expectMessage(op, payload)
		p.closeNormally()
	}}
}

// failCase sends frames in one write and expects the connection to be
// failed with code and nothing else.
func failCase(id, desc string, code int, frames func(p *peer) [][]byte) wsCase {
	return wsCase{id: id, desc: desc, run: func(p *peer) {
		p.send(frames(p)...)
		p.expectFailure(code)
	}}
}
