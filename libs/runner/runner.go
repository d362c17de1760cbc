// Package runner gives every service the originals' two modes:
// RUN_AS_SERVICE=false runs one pass and exits, true loops with a random
// sleep between passes. A signal never cuts a unit of work in half: the
// pass keeps a context that outlives the signal (up to a grace period) and
// asks Stopping between units.
package runner

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/config"
)

// Config says how passes repeat.
type Config struct {
	RunAsService bool
	MinSleep     time.Duration
	MaxSleep     time.Duration
	// Grace is how long work may go on after the process context is
	// cancelled before the work context is cancelled too. Zero means
	// no limit (the pass decides when to stop).
	Grace time.Duration
	// Beat, when set, is told that the loop is alive: after every pass
	// and every few seconds while sleeping between passes (sleeping is the
	// loop working as intended). It is meant for metrics.Server.Beat, so
	// that /healthz turns unhealthy only when a pass hangs. Nil is fine.
	Beat func()

	// beatEvery is how often Beat is called while sleeping; zero means
	// defaultBeatEvery. Tests shorten it.
	beatEvery time.Duration
}

// defaultBeatEvery keeps the heartbeat far inside any sensible health
// window without waking the process more than it needs to.
const defaultBeatEvery = 10 * time.Second

// FromCommon gives the runner the settings every service has. It lives
// here rather than in config because config is the lower layer: the
// runner knows about configuration, configuration knows nothing of the
// runner. Beat is left nil for the caller to wire to its health check.
func FromCommon(c config.Common) Config {
	return Config{
		RunAsService: c.RunAsService,
		MinSleep:     time.Duration(c.MinSleep) * time.Second,
		MaxSleep:     time.Duration(c.MaxSleep) * time.Second,
		Grace:        time.Duration(c.ShutdownWait) * time.Second,
	}
}

func (c Config) beat() {
	if c.Beat != nil {
		c.Beat()
	}
}

// Pass is one unit-by-unit sweep of work. Its context is not cancelled
// when the process is asked to stop; Stopping(ctx) turns true instead.
type Pass func(ctx context.Context) error

type stopKey struct{}

// Stopping reports whether the process has been asked to stop. A pass
// checks it between units of work and returns when it is true.
func Stopping(ctx context.Context) bool {
	done, ok := ctx.Value(stopKey{}).(<-chan struct{})
	if !ok {
		return ctx.Err() != nil
	}
	select {
	case <-done:
		return true
	default:
		return false
	}
}

// WorkContext derives the context a pass runs under from the process
// context: it carries the stop signal but is only cancelled Grace after
// the process context is. The returned cancel must be called.
func WorkContext(ctx context.Context, grace time.Duration) (context.Context, context.CancelFunc) {
	work, cancel := context.WithCancel(context.WithoutCancel(ctx))
	work = context.WithValue(work, stopKey{}, ctx.Done())
	stop := context.AfterFunc(ctx, func() {
		if grace <= 0 {
			return
		}
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-t.C:
			cancel()
		case <-work.Done():
		}
	})
	return work, func() { stop(); cancel() }
}

// Run runs pass once or in a loop, as cfg says. In once mode it returns
// the pass's error. In loop mode a failed pass is logged and retried after
// the usual sleep; Run returns nil once ctx is cancelled.
func Run(ctx context.Context, cfg Config, log *zap.Logger, pass Pass) error {
	if cfg.MaxSleep < cfg.MinSleep {
		return fmt.Errorf("runner: max sleep %s is below min sleep %s", cfg.MaxSleep, cfg.MinSleep)
	}
	for n := 1; ; n++ {
		err := runPass(ctx, cfg, pass)
		// A pass that returned, even with an error, is the loop making
		// progress: a failing dependency shows in /readyz and the error
		// metrics, and restarting the process would not fix it.
		cfg.beat()
		if !cfg.RunAsService {
			return err
		}
		if err != nil {
			log.Error("pass failed", zap.Int("pass", n), zap.Error(err))
		}
		if ctx.Err() != nil {
			log.Info("stopping: signal received")
			return nil
		}
		sleep := Jitter(cfg.MinSleep, cfg.MaxSleep)
		log.Debug("sleeping", zap.Duration("for", sleep))
		if !cfg.sleep(ctx, sleep) {
			log.Info("stopping: signal received")
			return nil
		}
	}
}

// sleep waits for d, beating as it goes, and reports false when ctx was
// cancelled first.
func (c Config) sleep(ctx context.Context, d time.Duration) bool {
	every := c.beatEvery
	if every <= 0 {
		every = defaultBeatEvery
	}
	t := time.NewTimer(d)
	defer t.Stop()
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case <-tick.C:
			c.beat()
		}
	}
}

func runPass(ctx context.Context, cfg Config, pass Pass) (err error) {
	work, cancel := WorkContext(ctx, cfg.Grace)
	defer cancel()
	defer func() {
		// A pass that panics must not take the loop down silently; the
		// stack goes into the error so it is logged once, at the top.
		if r := recover(); r != nil {
			err = fmt.Errorf("pass panicked: %v", r)
		}
	}()
	err = pass(work)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return fmt.Errorf("pass cut short after the shutdown grace period: %w", err)
	}
	return err
}

// Jitter returns a random duration in [min, max].
func Jitter(min, max time.Duration) time.Duration {
	if max <= min {
		return min
	}
	return min + rand.N(max-min+1)
}
