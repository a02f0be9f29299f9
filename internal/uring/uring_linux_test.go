//go:build linux

package uring

import (
	"bytes"
	"fmt"
	"os"
	"syscall"
	"testing"
)

// ciRun reports a CI run, where a kernel without io_uring fails the
// tests that need it instead of skipping them.
func ciRun() bool { return os.Getenv("CI") == "true" }

// socketPair returns the two ends of a connected stream socket pair,
// closed when the test ends.
func socketPair(t *testing.T) (a, b int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Close(fds[0])
		syscall.Close(fds[1])
	})
	return fds[0], fds[1]
}

func newRing(t *testing.T) *Ring {
	t.Helper()
	r, err := New(8)
	if err != nil {
		if ciRun() {
			t.Fatalf("io_uring is not available: %v", err)
		}
		t.Skipf("io_uring is not available: %v", err)
	}
	t.Cleanup(r.Close)
	return r
}

// TestSendAll: one call sends every buffer on its descriptor and reports
// for each what the send returned: all of it, part of it when the socket
// buffer fills (MSG_DONTWAIT), -EAGAIN when it is full, -EBADF for a bad
// descriptor. The ring is used again afterwards, past its size.
func TestSendAll(t *testing.T) {
	r := newRing(t)
	a1, b1 := socketPair(t)
	a2, b2 := socketPair(t)
	full, _ := socketPair(t)
	if err := syscall.SetsockoptInt(full, syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096); err != nil {
		t.Fatal(err)
	}
	junk := make([]byte, 4096)
	for {
		if _, err := syscall.Write(full, junk); err != nil {
			break // full
		}
	}
	big := bytes.Repeat([]byte("z"), 1<<20)
	res := make([]int32, 4)
	for round := range 5 { // 5 × 4 sends go round an 8-entry ring
		msg := fmt.Appendf(nil, "round %d", round)
		err := r.SendAll([]int32{int32(a1), int32(a2), int32(full), 1 << 30}, [][]byte{msg, big, []byte("x"), msg}, res)
		if err != nil {
			t.Fatal(err)
		}
		if res[0] != int32(len(msg)) {
			t.Errorf("round %d: first send %d, want %d", round, res[0], len(msg))
		}
		if res[1] <= 0 || res[1] >= int32(len(big)) {
			t.Errorf("round %d: 1 MiB into an empty pair: %d, want part of it", round, res[1])
		}
		if res[2] != -int32(syscall.EAGAIN) {
			t.Errorf("round %d: send into a full socket: %d, want -EAGAIN", round, res[2])
		}
		if res[3] != -int32(syscall.EBADF) {
			t.Errorf("round %d: send on a bad descriptor: %d, want -EBADF", round, res[3])
		}
		got := make([]byte, 64)
		n, err := syscall.Read(b1, got)
		if err != nil || string(got[:n]) != string(msg) {
			t.Fatalf("round %d: read %q, %v; want %q", round, got[:n], err, msg)
		}
		// Drain the other pair for the next round.
		drained := 0
		buf := make([]byte, 1<<20)
		for drained < int(res[1]) {
			n, err := syscall.Read(b2, buf)
			if err != nil {
				t.Fatalf("round %d: draining: %v after %d of %d", round, err, drained, res[1])
			}
			drained += n
		}
	}
}

// TestRecvAll: one call reads what each socket holds, up to its buffer,
// and reports -EAGAIN for an empty one, 0 at the end of a stream and
// -EBADF for a bad descriptor; what a buffer could not take stays for the
// next call.
func TestRecvAll(t *testing.T) {
	r := newRing(t)
	a1, b1 := socketPair(t)
	_, b2 := socketPair(t)
	a3, b3 := socketPair(t)
	syscall.Close(a3) // b3 reads the end of the stream
	res := make([]int32, 4)
	for round := range 5 { // 5 × 4 receives go round an 8-entry ring
		msg := fmt.Appendf(nil, "round %d, twice as long as the buffer", round)
		if _, err := syscall.Write(a1, msg); err != nil {
			t.Fatal(err)
		}
		half := make([]byte, len(msg)/2)
		bufs := [][]byte{half, make([]byte, 64), make([]byte, 64), make([]byte, 64)}
		if err := r.RecvAll([]int32{int32(b1), int32(b2), int32(b3), 1 << 30}, bufs, res); err != nil {
			t.Fatal(err)
		}
		if res[0] != int32(len(half)) || !bytes.Equal(half, msg[:len(half)]) {
			t.Errorf("round %d: first receive %d %q, want %q", round, res[0], half, msg[:len(half)])
		}
		if res[1] != -int32(syscall.EAGAIN) {
			t.Errorf("round %d: receive from an empty socket: %d, want -EAGAIN", round, res[1])
		}
		if res[2] != 0 {
			t.Errorf("round %d: receive at the end of a stream: %d, want 0", round, res[2])
		}
		if res[3] != -int32(syscall.EBADF) {
			t.Errorf("round %d: receive on a bad descriptor: %d, want -EBADF", round, res[3])
		}
		rest := make([]byte, 64)
		n, err := syscall.Read(b1, rest)
		if err != nil || !bytes.Equal(rest[:n], msg[len(half):]) {
			t.Fatalf("round %d: the rest: %q, %v; want %q", round, rest[:n], err, msg[len(half):])
		}
	}
}
