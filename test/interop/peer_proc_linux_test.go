package interop

import (
	"os"
	"syscall"
)

// peerProcAttr starts a peer in a process group of its own, so that
// killPeer also stops the helpers it may start; Pdeathsig stops the peer
// if the test binary dies first.
func peerProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killPeer kills the peer's process group.
func killPeer(p *os.Process) { _ = syscall.Kill(-p.Pid, syscall.SIGKILL) }
