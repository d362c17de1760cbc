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
	d, peak, err := RunMeasured(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if d < 300*time.Millisecond || peak < 60<<20 || peak > 400<<20 {
		t.Fatalf("duration %s, peak %d MB: want ≥ 300ms and about 64 MB more than a test binary", d, peak>>20)
	}
}
