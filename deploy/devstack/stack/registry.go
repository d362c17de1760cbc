package stack

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// The registry-processor's source in the devstack: RegistryCorps
// corporations generated from RegistrySeed before the processor starts,
// then RegistryEventsPerTick new events every RegistryEventInterval, so
// each of its runs (MIN_SLEEP/MAX_SLEEP 10–15 s) finds a few.
const (
	RegistryCorps         = 3000
	RegistrySeed          = 1
	RegistryEventsPerTick = 5
	RegistryEventInterval = 20 * time.Second
)

// registryMetricsAddr is where the registry-processor serves /metrics and
// its /status page in the devstack.
const registryMetricsAddr = "127.0.0.1:19107"

// registryGenerateArgs fills an empty source with the generated corps and
// their history. The devstack is a module of its own and cannot import
// the service's internal packages, so it runs the binary's verb.
func registryGenerateArgs() []string {
	return []string{"testdata", "generate", "--corps", strconv.Itoa(RegistryCorps), "--seed", strconv.Itoa(RegistrySeed)}
}

// registryEventArgs adds RegistryEventsPerTick later events to the corps
// already generated (continuing after the source's highest event id, at
// the current time), as the registry does between two runs. Each tick
// has its own seed, so the events fall on different corps.
func registryEventArgs(tick int) []string {
	return []string{"testdata", "generate", "--corps", strconv.Itoa(RegistryCorps), "--seed", strconv.Itoa(RegistrySeed + tick),
		"--events", strconv.Itoa(RegistryEventsPerTick)}
}

// registryEventEvery is RegistryEventInterval; tests shorten it.
var registryEventEvery = RegistryEventInterval

// Deadlines of the verbs: generating a few thousand corps takes seconds;
// a generous bound still stops a hung run.
const (
	registryGenerateWait = 5 * time.Minute
	registryEventWait    = time.Minute
)

func registryProcessorEnv(st *Stack) []string {
	return []string{
		"RUN_AS_SERVICE=true", "MIN_SLEEP=10", "MAX_SLEEP=15",
		"SOURCE_DB=" + st.SourceDSN,
		"TARGET=" + st.PGDSN,
		fmt.Sprintf("CONTROLLER_URL=http://127.0.0.1:%d", AgentPort),
		"NATS=" + st.NATSURL(),
		"NOTIFICATIONS=true",
		"METRICS_ADDR=" + registryMetricsAddr,
	}
}

// prepareRegistrySource runs before the registry-processor starts: it
// generates the source, runs the initial load (every corp queued and its
// credentials generated; the service posts them) and starts the trickle
// of new events, which runs until ctx ends; wg waits for it.
func (st *Stack) prepareRegistrySource(ctx context.Context, wg *sync.WaitGroup, out *sync.Mutex, bin string, svc service) error {
	env := append(os.Environ(), append(svc.env(st), "LOG_LEVEL=info")...)
	if err := runVerb(ctx, out, bin, env, registryGenerateWait, registryGenerateArgs()); err != nil {
		return fmt.Errorf("generate the registry source (%d corps, seed %d): %w", RegistryCorps, RegistrySeed, err)
	}
	st.log.Info("registry source generated", zap.Int("corps", RegistryCorps), zap.Int("seed", RegistrySeed))
	// A fresh event-processor database starts with the initial load, as
	// an operator starts the original: every corp queued and generated;
	// the service then posts them and follows the new events.
	if err := runVerb(ctx, out, bin, env, registryGenerateWait, []string{"initial-load"}); err != nil {
		return fmt.Errorf("initial load of the registry source: %w", err)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(registryEventEvery)
		defer t.Stop()
		for tick := 1; ; tick++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			// One failed tick is logged and the next one tries again:
			// the processor keeps running on what is there.
			if err := runVerb(ctx, out, bin, env, registryEventWait, registryEventArgs(tick)); err != nil && ctx.Err() == nil {
				st.log.Warn("registry event trickle", zap.Error(err))
			}
		}
	}()
	st.log.Info("registry event trickle started", zap.Int("events", RegistryEventsPerTick), zap.Duration("every", registryEventEvery))
	return nil
}

// runVerb runs bin with args and env within wait, its output prefixed
// like the services'.
func runVerb(ctx context.Context, out *sync.Mutex, bin string, env []string, wait time.Duration, args []string) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s %v: %w", bin, args, err)
	}
	prefix := fmt.Sprintf("[%-26s] ", "registry-processor "+args[0])
	var copies sync.WaitGroup
	for _, r := range []io.Reader{stdout, stderr} {
		copies.Add(1)
		go func() {
			defer copies.Done()
			copyPrefixed(out, prefix, r)
		}()
	}
	copies.Wait()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s %v: %w", bin, args, err)
	}
	return nil
}
