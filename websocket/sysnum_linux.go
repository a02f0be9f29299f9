//go:build linux && !386

package websocket

import "syscall"

// sysRecvfrom is recvfrom(2)'s number.
const sysRecvfrom = syscall.SYS_RECVFROM
