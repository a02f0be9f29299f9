package proc

import (
	"os"
	"testing"
	"time"
)

func TestSelfFigures(t *testing.T) {
	// Burn a little CPU so the tick counter moves.
	deadline := time.Now().Add(50 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x++
	}
	if x == 0 {
		t.Fatal("loop did not run")
	}
	cpu, err := CPUTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if cpu <= 0 {
		t.Fatalf("CPUTime of self = %v, want > 0 after a busy loop", cpu)
	}
	if SelfCPU() <= 0 {
		t.Fatal("SelfCPU = 0 after a busy loop")
	}
	m, err := ReadMemory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("memory = %+v, want RSS > 0 and HWM >= RSS", m)
	}
	if _, err := CPUTime(-5); err == nil {
		t.Fatal("CPUTime of a missing process returned no error")
	}
}

func TestRaiseFileLimit(t *testing.T) {
	n, err := RaiseFileLimit()
	if err != nil {
		t.Fatal(err)
	}
	if n < 64 {
		t.Fatalf("soft limit after raise = %d", n)
	}
}
