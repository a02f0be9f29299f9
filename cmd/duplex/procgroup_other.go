//go:build !unix

package main

import (
	"os"
	"os/exec"
)

// ownProcessGroup does nothing where process groups cannot be signalled:
// the program alone is ended (signalGroup).
func ownProcessGroup(*exec.Cmd) {}

// signalGroup ends process pid. Without Unix signals there is no gentle
// request to stop, so both steps kill it.
func signalGroup(pid int, _ bool) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}
