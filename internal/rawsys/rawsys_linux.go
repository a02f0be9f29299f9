// Package rawsys makes system calls that cannot block without the
// scheduler's bookkeeping, for the event loops of the websocket package
// and of the load generator.
package rawsys

import "syscall"

// Nonblocking makes a system call that cannot block (a zero timeout, a
// non-blocking descriptor) with RawSyscall, retrying on EINTR; any
// further arguments are zero. Skipping the bookkeeping of syscall.Syscall
// keeps the runtime's monitor thread asleep: woken by every such call, it
// polls every 20 µs for a while, a context switch each on a busy CPU.
func Nonblocking(trap, a1, a2, a3, a4 uintptr) (int, error) {
	for {
		n, _, errno := syscall.RawSyscall6(trap, a1, a2, a3, a4, 0, 0)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}
