package stack

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/testkit"
)

// The registry-processor runs against its own COLIN source database and
// the devstack's database as its event-processor database, posts to the
// agent stub, and runs often (MIN_SLEEP/MAX_SLEEP 10/15) so the trickle
// shows up within seconds.
func TestRegistryProcessorServiceEnv(t *testing.T) {
	svcs := lookup("registry-processor")
	if len(svcs) != 1 {
		t.Fatalf("registry-processor runs as %d services, want 1", len(svcs))
	}
	st := &Stack{dir: t.TempDir(), PGDSN: "postgres://devstack@127.0.0.1:5432/" + Database, SourceDSN: "postgres://devstack@127.0.0.1:5432/" + SourceDatabase}
	env := envOf(st, svcs[0])
	want := map[string]string{
		"RUN_AS_SERVICE": "true",
		"MIN_SLEEP":      "10",
		"MAX_SLEEP":      "15",
		"SOURCE_DB":      st.SourceDSN,
		"TARGET":         st.PGDSN,
		"CONTROLLER_URL": "http://127.0.0.1:18080",
		"NATS":           st.NATSURL(),
		"METRICS_ADDR":   svcs[0].metricsAddr,
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s=%q, want %q", k, env[k], v)
		}
	}
	if env["SOURCE_DB"] == env["TARGET"] {
		t.Errorf("SOURCE_DB and TARGET are the same database %s", env["TARGET"])
	}
	if svcs[0].prepare == nil {
		t.Error("registry-processor has no prepare step: nothing generates its source")
	}
}

// verbs reads the fake binary's verb lines in order: the arguments of
// each call, and when it came.
func verbs(t *testing.T, path, name string) (args []string, at []time.Time) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != name || !strings.HasPrefix(f[1], "verb:") {
			continue
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		args = append(args, strings.TrimPrefix(f[1], "verb:"))
		at = append(at, time.Unix(0, ns))
	}
	return args, at
}

// Before the registry-processor starts, its binary generates the source
// (testdata generate --corps 3000 --seed 1) with the service's SOURCE_DB
// and runs the initial load; the service starts only after that, and new
// events follow on a ticker until the devstack stops, each call with
// --events.
func TestRegistryProcessorGeneratesThenTrickles(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, "registry-processor")); err != nil {
		t.Fatal(err)
	}
	defer func(d time.Duration) { registryEventEvery = d }(registryEventEvery)
	registryEventEvery = 300 * time.Millisecond

	logPath := filepath.Join(t.TempDir(), "events.log")
	real := lookup("registry-processor")[0]
	addr := testkit.FreeAddr(t)
	svc := real
	svc.metricsAddr = addr
	svc.env = func(st *Stack) []string {
		return append(real.env(st), fakeServiceEnv+"=registry-processor", "FAKE_LOG="+logPath, "FAKE_DELAY=0s", "METRICS_ADDR="+addr)
	}
	st := &Stack{log: zap.NewNop(), dir: t.TempDir(), PGDSN: "postgres://devstack@127.0.0.1:5432/" + Database, SourceDSN: "postgres://devstack@127.0.0.1:5432/" + SourceDatabase}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.runServices(ctx, bin, []service{svc}) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(logPath); err == nil {
			if args, _ := verbs(t, logPath, "registry-processor"); len(args) >= 4 && !events(t, logPath)["registry-processor healthy"].IsZero() {
				break
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("no generate, initial load, two event ticks and a healthy service within 30s; log:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("runServices did not return within 30s of the context's end")
	}

	args, at := verbs(t, logPath, "registry-processor")
	// Written out by hand from the constants' meaning, not from the
	// functions that build them.
	if wantGen := "testdata,generate,--corps,3000,--seed,1"; args[0] != wantGen {
		t.Errorf("first call %q, want %q", args[0], wantGen)
	}
	if args[1] != "initial-load" {
		t.Errorf("second call %q, want initial-load", args[1])
	}
	// Tick n seeds with 1+n: new events on other corps each time.
	for i, a := range args[2:] {
		if wantEv := fmt.Sprintf("testdata,generate,--corps,3000,--seed,%d,--events,5", 2+i); a != wantEv {
			t.Errorf("call %d: %q, want %q", i+2, a, wantEv)
		}
	}
	ev := events(t, logPath)
	if !ev["registry-processor started"].After(at[1]) {
		t.Errorf("service started at %v, before the initial load at %v", ev["registry-processor started"], at[1])
	}
	for i := 3; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 200*time.Millisecond {
			t.Errorf("event ticks %d and %d only %v apart, want about %v", i-1, i, gap, registryEventEvery)
		}
	}
	if ev["registry-processor stopped"].IsZero() {
		t.Errorf("the service was not stopped with SIGTERM (events %v)", ev)
	}
	// No tick after the stop.
	if last := at[len(at)-1]; last.After(ev["registry-processor stopped"].Add(time.Second)) {
		t.Errorf("an event tick at %v, after the service stopped at %v", last, ev["registry-processor stopped"])
	}
}
