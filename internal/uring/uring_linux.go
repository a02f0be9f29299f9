//go:build linux

package uring

import (
	"fmt"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// Ring is an io_uring used for one thing: sending on (or receiving from)
// several sockets in one system call. An event loop that has answers for
// k connections makes one call instead of k writes; on a machine where
// entering the kernel is dear (1.1 µs under a paravirtualised kernel with
// page-table isolation, against 75 ns on bare metal) that is a large share
// of its CPU (docs/performance.md).
//
// Every operation is MSG_DONTWAIT: the kernel completes it during the
// io_uring_enter that submits it, with what fitted in (or was waiting in)
// the socket buffer, or -EAGAIN, and never touches the buffer afterwards.
// What did not fit is left to the caller's ordinary writes. A Ring is
// owned by one goroutine.
type Ring struct {
	fd int

	sqHead, sqTail, sqMask *uint32
	sqArray                unsafe.Pointer // []uint32
	sqes                   unsafe.Pointer // []uringSQE
	cqHead, cqTail, cqMask *uint32
	cqes                   unsafe.Pointer // []uringCQE
	entries                uint32

	ringMem, sqeMem []byte
}

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	sysIOUringSetup = 425
	sysIOUringEnter = 426

	uringOffSQRing = 0
	uringOffCQRing = 0x8000000
	uringOffSQEs   = 0x10000000

	uringFeatSingleMmap = 1 << 0
	uringEnterGetEvents = 1 << 0
	uringOpSend         = 26
	uringOpRecv         = 27
)

type uringSQOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type uringCQOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type uringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  uringSQOffsets
	cqOff                                                                  uringCQOffsets
}

type uringSQE struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	msgFlags    uint32
	userData    uint64
	bufIndex    uint16
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

type uringCQE struct {
	userData uint64
	res      int32
	flags    uint32
}

// Compile-time checks of the layouts the kernel expects.
var (
	_ [120 - unsafe.Sizeof(uringParams{})]struct{}
	_ [unsafe.Sizeof(uringParams{}) - 120]struct{}
	_ [64 - unsafe.Sizeof(uringSQE{})]struct{}
	_ [unsafe.Sizeof(uringSQE{}) - 64]struct{}
	_ [16 - unsafe.Sizeof(uringCQE{})]struct{}
	_ [unsafe.Sizeof(uringCQE{}) - 16]struct{}
)

// New sets up a ring of entries submissions (a power of two), or fails
// where io_uring is missing or forbidden (an old kernel,
// kernel.io_uring_disabled, a seccomp profile such as a container
// runtime's default): the caller then writes and reads as it would
// without.
func New(entries uint32) (*Ring, error) {
	var p uringParams
	fd, _, errno := syscall.RawSyscall(sysIOUringSetup, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &Ring{fd: int(fd)}
	if err := r.mmap(&p); err != nil {
		r.Close()
		return nil, err
	}
	syscall.CloseOnExec(r.fd)
	return r, nil
}

func (r *Ring) mmap(p *uringParams) error {
	if p.features&uringFeatSingleMmap == 0 {
		return fmt.Errorf("io_uring: the kernel lacks IORING_FEAT_SINGLE_MMAP")
	}
	sqSize := uintptr(p.sqOff.array) + uintptr(p.sqEntries)*4
	cqSize := uintptr(p.cqOff.cqes) + uintptr(p.cqEntries)*unsafe.Sizeof(uringCQE{})
	size := max(sqSize, cqSize)
	mem, err := syscall.Mmap(r.fd, uringOffSQRing, int(size), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("io_uring: mmap rings: %w", err)
	}
	r.ringMem = mem
	sqes, err := syscall.Mmap(r.fd, uringOffSQEs, int(uintptr(p.sqEntries)*unsafe.Sizeof(uringSQE{})), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("io_uring: mmap entries: %w", err)
	}
	r.sqeMem = sqes
	base := unsafe.Pointer(unsafe.SliceData(mem))
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Add(base, off)) }
	r.sqHead, r.sqTail, r.sqMask = at(p.sqOff.head), at(p.sqOff.tail), at(p.sqOff.ringMask)
	r.sqArray = unsafe.Add(base, p.sqOff.array)
	r.cqHead, r.cqTail, r.cqMask = at(p.cqOff.head), at(p.cqOff.tail), at(p.cqOff.ringMask)
	r.cqes = unsafe.Add(base, p.cqOff.cqes)
	r.sqes = unsafe.Pointer(unsafe.SliceData(sqes))
	r.entries = p.sqEntries
	return nil
}

// Entries is how many operations one call takes at most.
func (r *Ring) Entries() int { return int(r.entries) }

// Close releases the ring.
func (r *Ring) Close() {
	if r.sqeMem != nil {
		_ = syscall.Munmap(r.sqeMem)
	}
	if r.ringMem != nil {
		_ = syscall.Munmap(r.ringMem)
	}
	_ = syscall.Close(r.fd)
}

// Unsent is SendAll's and RecvAll's result for an operation the kernel
// never took: it is to be made the ordinary way.
const Unsent = -1 << 31

// SendAll sends bufs[i] on fds[i], all in one io_uring_enter, and stores
// in res[i] what each send returned: the bytes sent, a negative errno, or
// Unsent. It returns once every send the kernel took has completed, so
// the buffers are the caller's again. len(fds) is at most Entries. An
// error means the ring is broken and must be closed (it may hold sends
// never taken); res still says what became of each.
func (r *Ring) SendAll(fds []int32, bufs [][]byte, res []int32) error {
	return r.all(uringOpSend, fds, bufs, res)
}

// RecvAll is SendAll for receiving: it reads into bufs[i] from fds[i]
// what each socket holds, and res[i] is the bytes read (0 at the end of
// the stream), a negative errno (-EAGAIN: nothing there), or Unsent.
func (r *Ring) RecvAll(fds []int32, bufs [][]byte, res []int32) error {
	return r.all(uringOpRecv, fds, bufs, res)
}

func (r *Ring) all(op uint8, fds []int32, bufs [][]byte, res []int32) error {
	n := uint32(len(fds))
	tail := atomic.LoadUint32(r.sqTail)
	mask := *r.sqMask
	for i := range n {
		idx := (tail + i) & mask
		sqe := (*uringSQE)(unsafe.Add(r.sqes, uintptr(idx)*unsafe.Sizeof(uringSQE{})))
		*sqe = uringSQE{
			opcode:   op,
			fd:       fds[i],
			addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(bufs[i])))),
			len:      uint32(len(bufs[i])),
			msgFlags: syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL,
			userData: uint64(i),
		}
		*(*uint32)(unsafe.Add(r.sqArray, uintptr(idx)*4)) = idx
		res[i] = Unsent
	}
	atomic.StoreUint32(r.sqTail, tail+n)
	var err error
	idle := 0
	for done := uint32(0); done < n; {
		taken := atomic.LoadUint32(r.sqHead) - tail
		_, _, errno := syscall.RawSyscall6(sysIOUringEnter, uintptr(r.fd), uintptr(n-taken), uintptr(n-done), uringEnterGetEvents, 0, 0)
		if errno != 0 && errno != syscall.EINTR {
			err = fmt.Errorf("io_uring_enter: %w", errno)
		}
		got := r.reap(res[:n])
		done += got
		if got == 0 && atomic.LoadUint32(r.sqHead)-tail == taken && errno != syscall.EINTR {
			// Nothing taken, nothing completed: never seen, but a
			// loop must not spin on it.
			if idle++; idle == 3 && err == nil {
				err = fmt.Errorf("io_uring_enter: no progress")
			}
		}
		if err != nil {
			// An operation the kernel took and did not answer: whether
			// its bytes moved is unknown, so its connection must fail.
			taken = atomic.LoadUint32(r.sqHead) - tail
			for i := range min(taken, n) {
				if res[i] == Unsent {
					res[i] = -int32(syscall.EIO)
				}
			}
			return err
		}
	}
	return nil
}

// reap takes the completions waiting in the ring into res and reports how
// many there were.
func (r *Ring) reap(res []int32) uint32 {
	head := atomic.LoadUint32(r.cqHead)
	tail := atomic.LoadUint32(r.cqTail)
	mask := *r.cqMask
	k := tail - head
	for ; head != tail; head++ {
		cqe := (*uringCQE)(unsafe.Add(r.cqes, uintptr(head&mask)*unsafe.Sizeof(uringCQE{})))
		if cqe.userData < uint64(len(res)) {
			res[cqe.userData] = cqe.res
		}
	}
	atomic.StoreUint32(r.cqHead, tail)
	return k
}
