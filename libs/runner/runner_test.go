package runner

import (
	"context"
	"errors"
	"os/signal"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestStopsWithinOneUnitOnSIGTERM sends the process a real SIGTERM while a
// unit of work is in flight and checks that the unit finishes (its context
// stays alive) and that no further unit starts.
func TestStopsWithinOneUnitOnSIGTERM(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	var started, finished atomic.Int32
	inUnit := make(chan struct{}, 100)
	pass := func(ctx context.Context) error {
		for !Stopping(ctx) {
			started.Add(1)
			inUnit <- struct{}{}
			select {
			case <-time.After(300 * time.Millisecond): // the unit's work
			case <-ctx.Done():
				return ctx.Err()
			}
			finished.Add(1)
		}
		return nil
	}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{RunAsService: true, MinSleep: time.Hour, MaxSleep: time.Hour, Grace: time.Minute}, zap.NewNop(), pass)
	}()
	<-inUnit
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v, want nil after a clean stop", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5s of SIGTERM")
	}
	if s, f := started.Load(), finished.Load(); s != 1 || f != 1 {
		t.Fatalf("units started=%d finished=%d, want the one in flight finished and no other started", s, f)
	}
}

func TestOnceModeReturnsPassError(t *testing.T) {
	want := errors.New("boom")
	calls := 0
	err := Run(context.Background(), Config{}, zap.NewNop(), func(context.Context) error { calls++; return want })
	if !errors.Is(err, want) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want boom after exactly one pass", err, calls)
	}
}

func TestLoopModeRetriesFailedPasses(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := Run(ctx, Config{RunAsService: true, MinSleep: time.Millisecond, MaxSleep: 2 * time.Millisecond}, zap.NewNop(), func(context.Context) error {
		calls++
		if calls == 3 {
			cancel()
		}
		return errors.New("transient")
	})
	if err != nil || calls != 3 {
		t.Fatalf("err=%v calls=%d, want nil after three passes", err, calls)
	}
}

func TestGraceCancelsStuckWork(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	err := Run(ctx, Config{Grace: 50 * time.Millisecond}, zap.NewNop(), func(ctx context.Context) error {
		<-ctx.Done()
		return ctx.Err()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled after the grace period", err)
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("work cancelled after %s, before the grace period", d)
	}
}

func TestJitterStaysInRange(t *testing.T) {
	for i := 0; i < 1000; i++ {
		d := Jitter(15*time.Second, 30*time.Second)
		if d < 15*time.Second || d > 30*time.Second {
			t.Fatalf("Jitter gave %s, outside [15s, 30s]", d)
		}
	}
	if d := Jitter(5*time.Second, 5*time.Second); d != 5*time.Second {
		t.Fatalf("Jitter(5s,5s)=%s", d)
	}
}
