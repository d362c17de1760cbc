package stack

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/testkit"
)

// fakeServiceEnv makes the test binary act as a service binary that
// RunServices starts: see fakeService.
const fakeServiceEnv = "DEVSTACK_FAKE_SERVICE"

func TestMain(m *testing.M) {
	if name := os.Getenv(fakeServiceEnv); name != "" {
		os.Exit(fakeService(name))
	}
	os.Exit(m.Run())
}

// fakeService writes "<name> started <unix ns>" to FAKE_LOG, waits
// FAKE_DELAY, writes "<name> healthy <unix ns>", serves /healthz on
// METRICS_ADDR and exits 0 on SIGTERM.
func fakeService(name string) int {
	logf := func(event string) {
		f, err := os.OpenFile(os.Getenv("FAKE_LOG"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(f, "%s %s %d\n", name, event, time.Now().UnixNano())
		f.Close()
	}
	// A verb (the registry-processor's testdata generate): say so with
	// its arguments and exit, failing as the real one would without its
	// source.
	if len(os.Args) > 1 {
		if os.Getenv("SOURCE_DB") == "" {
			fmt.Fprintln(os.Stderr, "SOURCE_DB is required")
			return 3
		}
		logf("verb:" + strings.Join(os.Args[1:], ","))
		return 0
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	logf("started")
	delay, _ := time.ParseDuration(os.Getenv("FAKE_DELAY"))
	time.Sleep(delay)
	ln, err := net.Listen("tcp", os.Getenv("METRICS_ADDR"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	logf("healthy")
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })}
	go srv.Serve(ln)
	<-term
	logf("stopped")
	return 0
}

// events reads the fake services' log: name and event to time.
func events(t *testing.T, path string) map[string]time.Time {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out[f[0]+" "+f[1]] = time.Unix(0, ns)
	}
	return out
}

// A service with after starts only once that one answers /healthz (a
// record-parser once its record-downloader has created the stream), and
// every service is stopped with SIGTERM when the context ends.
func TestRunServicesStartsAfterUpstreamHealthy(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, name := range []string{"upstream", "downstream"} {
		if err := os.Symlink(self, filepath.Join(bin, name)); err != nil {
			t.Fatal(err)
		}
	}
	logPath := filepath.Join(t.TempDir(), "events.log")
	fake := func(name, addr, delay string) func(*Stack) []string {
		return func(*Stack) []string {
			return []string{fakeServiceEnv + "=" + name, "FAKE_LOG=" + logPath, "FAKE_DELAY=" + delay, "METRICS_ADDR=" + addr}
		}
	}
	upAddr, downAddr := testkit.FreeAddr(t), testkit.FreeAddr(t)
	svcs := []service{
		// Listed first to start first, but it waits for upstream.
		{name: "downstream", metricsAddr: downAddr, after: "upstream", env: fake("downstream", downAddr, "0s")},
		{name: "upstream", metricsAddr: upAddr, env: fake("upstream", upAddr, "1500ms")},
	}
	st := &Stack{log: zap.NewNop(), dir: t.TempDir()}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- st.runServices(ctx, bin, svcs) }()

	deadline := time.Now().Add(30 * time.Second)
	for events(t, logPath)["downstream healthy"].IsZero() {
		if time.Now().After(deadline) {
			t.Fatalf("downstream never became healthy; events: %v", events(t, logPath))
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("RunServices did not return within 30s of the context's end")
	}
	ev := events(t, logPath)
	if !ev["downstream started"].After(ev["upstream healthy"]) {
		t.Errorf("downstream started at %v, before upstream was healthy at %v", ev["downstream started"], ev["upstream healthy"])
	}
	for _, n := range []string{"upstream stopped", "downstream stopped"} {
		if ev[n].IsZero() {
			t.Errorf("no %q: the service was not stopped with SIGTERM (events %v)", n, ev)
		}
	}
}
