//go:build linux && amd64

package main

// The io_uring interface, by hand: the structures and constants below are
// those of the kernel's include/uapi/linux/io_uring.h (field for field, same
// sizes and offsets on amd64), and the three system calls are made directly.

import (
	"errors"
	"fmt"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// io_uring_setup(2) flags.
const (
	setupCoopTaskrun  = 1 << 8
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13
)

// io_uring_params.features.
const (
	featSingleMmap = 1 << 0
	featMinTimeout = 1 << 15
)

// Opcodes (enum io_uring_op).
const (
	opRead = 22
	opSend = 26
	opRecv = 27
)

// sqe.flags.
const iosqeBufferSelect = 1 << 5

// sqe.ioprio for send/recv.
const recvMultishot = 1 << 1

// cqe.flags, io_uring_enter(2) flags, mmap offsets, register opcode.
const (
	cqeFBuffer      = 1 << 0
	cqeFMore        = 1 << 1
	cqeBufferShift  = 16
	enterGetEvents  = 1 << 0
	enterExtArg     = 1 << 3
	offSQRing       = 0
	offCQRing       = 0x8000000
	offSQEs         = 0x10000000
	registerPbufRng = 22 // IORING_REGISTER_PBUF_RING
)

// sqringOffsets is struct io_sqring_offsets (40 bytes).
type sqringOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

// cqringOffsets is struct io_cqring_offsets (40 bytes).
type cqringOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

// params is struct io_uring_params (120 bytes).
type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  sqringOffsets
	cqOff                                                                  cqringOffsets
}

// sqe is struct io_uring_sqe (64 bytes), with the unions reduced to the
// member this program uses.
type sqe struct {
	opcode      uint8
	flags       uint8
	ioprio      uint16
	fd          int32
	off         uint64
	addr        uint64
	len         uint32
	opFlags     uint32 // msg_flags, rw_flags, ...
	userData    uint64
	bufGroup    uint16 // buf_index / buf_group
	personality uint16
	spliceFdIn  int32
	addr3       uint64
	pad2        uint64
}

// cqe is struct io_uring_cqe (16 bytes; no IORING_SETUP_CQE32).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// bufReg is struct io_uring_buf_reg (40 bytes).
type bufReg struct {
	ringAddr    uint64
	ringEntries uint32
	bgid        uint16
	flags       uint16
	resv        [3]uint64
}

// geteventsArg is struct io_uring_getevents_arg (24 bytes), passed to
// io_uring_enter with IORING_ENTER_EXT_ARG; ts points to a kernelTimespec.
type geteventsArg struct {
	sigmask   uint64
	sigmaskSz uint32
	minWaitUs uint32 // min_wait_usec (6.12+; was pad)
	ts        uint64
}

// kernelTimespec is struct __kernel_timespec.
type kernelTimespec struct{ sec, nsec int64 }

// Compile-time size checks against the kernel's layouts.
var (
	_ [120]byte = [unsafe.Sizeof(params{})]byte{}
	_ [64]byte  = [unsafe.Sizeof(sqe{})]byte{}
	_ [16]byte  = [unsafe.Sizeof(cqe{})]byte{}
	_ [40]byte  = [unsafe.Sizeof(bufReg{})]byte{}
	_ [24]byte  = [unsafe.Sizeof(geteventsArg{})]byte{}
)

// ring is one io_uring instance with its mapped queues. It belongs to one
// OS thread (SINGLE_ISSUER): every method must be called from it.
type ring struct {
	fd        int
	setup     uint32 // flags the kernel accepted
	features  uint32
	sqMem     []byte
	cqMem     []byte // == sqMem with IORING_FEAT_SINGLE_MMAP
	sqeMem    []byte
	sqHead    *uint32
	sqTailP   *uint32
	sqMask    uint32
	sqEntries uint32
	sqes      []sqe
	sqTail    uint32 // local tail, published before each enter
	cqHead    *uint32
	cqTail    *uint32
	cqMask    uint32
	cqes      []cqe
	cqEntries uint32
	arg       geteventsArg   // for timed waits
	ts        kernelTimespec // arg.ts points here
}

func u32at(b []byte, off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&b[off])) }

// newRing sets up a ring of the given size, trying the cheapest
// task-running modes first and falling back when the kernel refuses them.
func newRing(entries uint32) (*ring, error) {
	tries := []uint32{
		setupSingleIssuer | setupDeferTaskrun | setupCoopTaskrun,
		setupSingleIssuer | setupDeferTaskrun,
		setupSingleIssuer | setupCoopTaskrun,
		setupCoopTaskrun,
		0,
	}
	var p params
	var fd uintptr
	var errno syscall.Errno
	for _, fl := range tries {
		p = params{flags: fl}
		fd, _, errno = syscall.RawSyscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
		if errno == 0 {
			break
		}
		if errno != syscall.EINVAL {
			return nil, fmt.Errorf("io_uring_setup: %w", errno)
		}
	}
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ring{fd: int(fd), setup: p.flags, features: p.features}
	if err := r.mapQueues(&p); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *ring) mapQueues(p *params) error {
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	cqSize := int(p.cqOff.cqes + p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	single := p.features&featSingleMmap != 0
	if single && cqSize > sqSize {
		sqSize = cqSize
	}
	prot, fl := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE
	var err error
	if r.sqMem, err = unix.Mmap(r.fd, offSQRing, sqSize, prot, fl); err != nil {
		return fmt.Errorf("mmap sq ring: %w", err)
	}
	r.cqMem = r.sqMem
	if !single {
		if r.cqMem, err = unix.Mmap(r.fd, offCQRing, cqSize, prot, fl); err != nil {
			return fmt.Errorf("mmap cq ring: %w", err)
		}
	}
	if r.sqeMem, err = unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), prot, fl); err != nil {
		return fmt.Errorf("mmap sqes: %w", err)
	}
	r.sqHead = u32at(r.sqMem, p.sqOff.head)
	r.sqTailP = u32at(r.sqMem, p.sqOff.tail)
	r.sqMask = *u32at(r.sqMem, p.sqOff.ringMask)
	r.sqEntries = *u32at(r.sqMem, p.sqOff.ringEntries)
	r.sqTail = atomic.LoadUint32(r.sqTailP)
	// The SQ index array maps ring slot i to SQE i, once and for all.
	arr := unsafe.Slice(u32at(r.sqMem, p.sqOff.array), p.sqEntries)
	for i := range arr {
		arr[i] = uint32(i)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	r.cqHead = u32at(r.cqMem, p.cqOff.head)
	r.cqTail = u32at(r.cqMem, p.cqOff.tail)
	r.cqMask = *u32at(r.cqMem, p.cqOff.ringMask)
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&r.cqMem[p.cqOff.cqes])), p.cqEntries)
	r.cqEntries = p.cqEntries
	return nil
}

func (r *ring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.cqMem != nil && &r.cqMem[0] != &r.sqMem[0] {
		unix.Munmap(r.cqMem)
	}
	if r.sqMem != nil {
		unix.Munmap(r.sqMem)
	}
	unix.Close(r.fd)
}

// getSQE returns a zeroed SQE to fill; it is queued (submitted by the next
// enter). When the SQ is full it submits what is queued first.
func (r *ring) getSQE() (*sqe, error) {
	if r.sqTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
		if _, err := r.enter(0, 0); err != nil {
			return nil, err
		}
		if r.sqTail-atomic.LoadUint32(r.sqHead) >= r.sqEntries {
			return nil, errors.New("submission queue full")
		}
	}
	s := &r.sqes[r.sqTail&r.sqMask]
	*s = sqe{}
	r.sqTail++
	return s, nil
}

// enter publishes the queued SQEs and makes one io_uring_enter call that
// submits them all and, with minComplete > 0, waits until that many
// completions are in the queue. With minWait > 0 (IORING_FEAT_MIN_TIMEOUT)
// it waits that long at most for minComplete, then returns as soon as any
// completion is there. It returns the number submitted.
func (r *ring) enter(minComplete uint32, minWait time.Duration) (int, error) {
	atomic.StoreUint32(r.sqTailP, r.sqTail)
	var flags, arg, argSz uintptr
	if minComplete > 0 {
		flags |= enterGetEvents
	}
	if minWait > 0 {
		// The overall timeout is only a backstop (the loop waits again).
		r.ts = kernelTimespec{sec: 1}
		r.arg = geteventsArg{ts: uint64(uintptr(unsafe.Pointer(&r.ts))), minWaitUs: uint32(minWait / time.Microsecond)}
		flags |= enterExtArg
		arg, argSz = uintptr(unsafe.Pointer(&r.arg)), unsafe.Sizeof(r.arg)
	}
	for {
		toSubmit := r.sqTail - atomic.LoadUint32(r.sqHead)
		n, _, errno := syscall.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), uintptr(minComplete), flags, arg, argSz)
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		case syscall.ETIME, syscall.EAGAIN, syscall.EBUSY:
			// Timed out, or the completion queue is backed up: the caller
			// reaps and comes back.
			return 0, nil
		default:
			return 0, fmt.Errorf("io_uring_enter: %w", errno)
		}
	}
}

// register is io_uring_register(2).
func (r *ring) register(op uintptr, arg unsafe.Pointer, nr uintptr) error {
	_, _, errno := syscall.RawSyscall6(unix.SYS_IO_URING_REGISTER, uintptr(r.fd), op, uintptr(arg), nr, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// forEachCQE hands every available completion to fn and then releases
// them, without a system call.
func (r *ring) forEachCQE(fn func(c cqe)) int {
	head := *r.cqHead // only we write it
	tail := atomic.LoadUint32(r.cqTail)
	n := 0
	for ; head != tail; head++ {
		c := r.cqes[head&r.cqMask]
		// Release the slot before handling it: fn may queue SQEs, whose
		// completions then have room.
		atomic.StoreUint32(r.cqHead, head+1)
		fn(c)
		n++
	}
	return n
}

// bufRing is a provided-buffer ring (IORING_REGISTER_PBUF_RING) of n
// buffers of size bytes each, group id 0.
type bufRing struct {
	mem   []byte // n struct io_uring_buf of 16 bytes; the tail overlays bufs[0].resv
	data  []byte // n*size bytes of buffers
	size  int
	mask  uint16
	tail  uint16 // local tail, published by publish
	dirty bool
}

const bufGroup = 0

func newBufRing(r *ring, n, size int) (*bufRing, error) {
	if n&(n-1) != 0 || n > 32768 {
		return nil, errors.New("buffer count must be a power of two ≤ 32768")
	}
	prot, fl := unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS
	mem, err := unix.Mmap(-1, 0, n*16, prot, fl|unix.MAP_POPULATE) // page aligned, as required
	if err != nil {
		return nil, err
	}
	data, err := unix.Mmap(-1, 0, n*size, prot, fl)
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	b := &bufRing{mem: mem, data: data, size: size, mask: uint16(n - 1)}
	reg := bufReg{ringAddr: uint64(uintptr(unsafe.Pointer(&mem[0]))), ringEntries: uint32(n), bgid: bufGroup}
	if err := r.register(registerPbufRng, unsafe.Pointer(&reg), 1); err != nil {
		b.free()
		return nil, fmt.Errorf("register buffer ring: %w", err)
	}
	for i := 0; i < n; i++ {
		b.recycle(uint16(i))
	}
	b.publish()
	return b, nil
}

func (b *bufRing) free() {
	unix.Munmap(b.mem)
	unix.Munmap(b.data)
}

// buf returns buffer bid's first n bytes.
func (b *bufRing) buf(bid uint16, n int) []byte {
	off := int(bid) * b.size
	return b.data[off : off+n : off+b.size]
}

// recycle gives buffer bid back to the kernel (visible after publish).
// Only addr, len and bid are written: the resv field of entry 0 is the
// ring's tail.
func (b *bufRing) recycle(bid uint16) {
	e := int(b.tail&b.mask) * 16
	*(*uint64)(unsafe.Pointer(&b.mem[e])) = uint64(uintptr(unsafe.Pointer(&b.data[int(bid)*b.size])))
	*(*uint32)(unsafe.Pointer(&b.mem[e+8])) = uint32(b.size)
	*(*uint16)(unsafe.Pointer(&b.mem[e+12])) = bid
	b.tail++
	b.dirty = true
}

// publish stores the tail with release semantics. Go has no 16-bit atomic
// store, so it stores the 32-bit word at offset 12 (bufs[0].bid, which only
// this thread writes, and the tail) with bid unchanged.
func (b *bufRing) publish() {
	if !b.dirty {
		return
	}
	b.dirty = false
	bid0 := *(*uint16)(unsafe.Pointer(&b.mem[12]))
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b.mem[12])), uint32(bid0)|uint32(b.tail)<<16)
}
