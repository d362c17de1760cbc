package runner

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/config"
)

// TestBeatAfterEveryPass: the runner tells the health check the loop is
// alive after each pass, failed or not, in both modes.
func TestBeatAfterEveryPass(t *testing.T) {
	cases := []struct {
		name      string
		service   bool
		fail      bool
		passes    int
		wantBeats int32
	}{
		{"once, pass works", false, false, 1, 1},
		{"once, pass fails", false, true, 1, 1},
		{"loop, passes fail", true, true, 3, 3},
		{"loop, passes work", true, false, 3, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var beats atomic.Int32
			var beatsAtPass []int32
			calls := 0
			// Sleeps are short, and no beat falls inside one: beatEvery is
			// far longer, so the count is the passes' beats alone.
			cfg := Config{RunAsService: c.service, MinSleep: time.Millisecond, MaxSleep: time.Millisecond, Beat: func() { beats.Add(1) }, beatEvery: time.Hour}
			err := Run(ctx, cfg, zap.NewNop(), func(context.Context) error {
				beatsAtPass = append(beatsAtPass, beats.Load())
				calls++
				if calls == c.passes {
					cancel()
				}
				if c.fail {
					return errors.New("transient")
				}
				return nil
			})
			if c.fail && !c.service && err == nil {
				t.Fatal("once mode hid the pass's error")
			}
			if got := beats.Load(); got != c.wantBeats {
				t.Fatalf("Beat called %d times over %d passes, want %d", got, calls, c.wantBeats)
			}
			for i, b := range beatsAtPass {
				if b != int32(i) {
					t.Fatalf("pass %d started after %d beats, want one beat per finished pass: %v", i+1, b, beatsAtPass)
				}
			}
		})
	}
}

// TestBeatWhileSleeping: a loop sleeping between passes is alive, so a
// sleep longer than the health window must not look like a stall.
func TestBeatWhileSleeping(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var beats, passes atomic.Int32
	cfg := Config{RunAsService: true, MinSleep: time.Hour, MaxSleep: time.Hour, Beat: func() { beats.Add(1) }, beatEvery: 10 * time.Millisecond}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, zap.NewNop(), func(context.Context) error { passes.Add(1); return nil })
	}()
	deadline := time.Now().Add(30 * time.Second)
	for beats.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatalf("%d beats in 30s of sleeping, want beats while the loop sleeps", beats.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel while sleeping")
	}
	if p := passes.Load(); p != 1 {
		t.Fatalf("%d passes, want 1 (the loop was sleeping an hour)", p)
	}
}

func TestNilBeatIsFine(t *testing.T) {
	if err := Run(context.Background(), Config{}, zap.NewNop(), func(context.Context) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestFromCommon(t *testing.T) {
	got := FromCommon(config.Common{RunAsService: true, MinSleep: 15, MaxSleep: 30, ShutdownWait: 50, HealthWindow: 900})
	want := Config{RunAsService: true, MinSleep: 15 * time.Second, MaxSleep: 30 * time.Second, Grace: 50 * time.Second}
	if got.RunAsService != want.RunAsService || got.MinSleep != want.MinSleep || got.MaxSleep != want.MaxSleep || got.Grace != want.Grace || got.Beat != nil {
		t.Fatalf("FromCommon = %+v, want %+v", got, want)
	}
}
