//go:build !linux

package interop

import (
	"os"
	"syscall"
)

// peerProcAttr has no process group or parent-death signal to ask for
// here: the peer is started as an ordinary child.
func peerProcAttr() *syscall.SysProcAttr { return nil }

// killPeer kills the peer itself; helpers it started may outlive it.
func killPeer(p *os.Process) { _ = p.Kill() }
