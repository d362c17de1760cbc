package testkit

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestMeasuredChild is the measured process: it touches 64 MB and sleeps.
func TestMeasuredChild(t *testing.T) {
	if os.Getenv("TESTKIT_MEASURED_CHILD") == "" {
		return
	}
	b := make([]byte, 64<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	time.Sleep(300 * time.Millisecond)
	_ = b[len(b)-1]
}

func TestRunMeasured(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestMeasuredChild$")
	cmd.Env = append(os.Environ(), "TESTKIT_MEASURED_CHILD=1")
	m, err := RunMeasured(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if m.Wall < 300*time.Millisecond || m.PeakRSS < 60<<20 || m.PeakRSS > 400<<20 {
		t.Fatalf("duration %s, peak %d MB: want ≥ 300ms and about 64 MB more than a test binary", m.Wall, m.PeakRSS>>20)
	}
	// Touching 64 MB takes some CPU; sleeping takes none.
	if m.CPU <= 0 || m.CPU >= m.Wall {
		t.Fatalf("CPU %s for a process that mostly sleeps %s", m.CPU, m.Wall)
	}
}
