package monitoring

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"tributary.dev/libs/pg"
	"tributary.dev/libs/testkit"
	"tributary.dev/libs/testkit/agentstub"
)

// registryCmd is the registry-processor's main package, relative to the
// repository root.
const registryCmd = "services/registry-processor/cmd/registry-processor"

// The registry-processor's real binary, started against real PostgreSQL
// (an empty COLIN source with the shipped DDL, a fresh event-processor
// database), NATS and the agent stub, exports under its prefix only names
// of the fixed list, with the types the dashboard assumes; every name the
// list gives no labels is exported from the start, so increase() and the
// gauges have a series before the first event; and the /status page and
// /status.json answer on the same port.
func TestRegistryProcessorExportsTheFixedNames(t *testing.T) {
	r := root(t)
	if _, err := os.Stat(filepath.Join(r, registryCmd)); err != nil {
		t.Fatalf("%s is not in the tree: the dashboard and alerts stand on the fixed list until it is (%v)", registryCmd, err)
	}
	bin := filepath.Join(t.TempDir(), "registry-processor")
	buildCtx, cancelBuild := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancelBuild()
	build := exec.CommandContext(buildCtx, "go", "build", "-o", bin, "./"+registryCmd)
	build.Dir = r
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", registryCmd, err, out)
	}

	source := testkit.Postgres(t)
	ddl, err := os.ReadFile(filepath.Join(r, "services", "registry-processor", "colin", "schema.sql"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := pg.Connect(ctx, source)
	if err != nil {
		t.Fatalf("connect to the source database: %v", err)
	}
	if _, err := pool.Exec(ctx, string(ddl)); err != nil {
		pool.Close()
		t.Fatalf("create the COLIN schema: %v", err)
	}
	pool.Close()
	agent := testkit.Agent(t, agentstub.Options{})

	addr := testkit.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(),
		"RUN_AS_SERVICE=true", "MIN_SLEEP=600", "MAX_SLEEP=600", "LOG_LEVEL=info", "METRICS_ADDR="+addr,
		"SOURCE_DB="+source, "TARGET="+testkit.Postgres(t),
		"CONTROLLER_URL="+agent.URL, "NATS="+testkit.NATS(t),
	)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("registry-processor did not stop within 30s of SIGTERM; it said:\n%s", out)
		}
	}()

	types := metricTypes(serviceMetrics(t, addr, "tributary_registry_processor_controller_ready", out))

	allowed := map[string]bool{"last_progress_timestamp_seconds": true}
	for n := range fixedMetrics()["registry-processor"] {
		allowed[n] = true
	}
	for n := range libsMetrics(goFiles(t, filepath.Join(r, "libs", "metrics"))) {
		allowed[n] = true
	}
	const prefix = "tributary_registry_processor_"
	var unlisted []string
	for full, typ := range types {
		n, ok := strings.CutPrefix(full, prefix)
		if !ok {
			continue
		}
		if !allowed[n] {
			unlisted = append(unlisted, full)
			continue
		}
		if want := registryProcessorHistograms[n]; want != (typ == "histogram") {
			t.Errorf("%s is a %s; the dashboard and alerts take it for a histogram: %v", full, typ, want)
		}
	}
	sort.Strings(unlisted)
	if len(unlisted) > 0 {
		t.Errorf("registry-processor exports metrics the fixed list (and so the dashboard) does not know: %v", unlisted)
	}
	// The names the design gives no labels.
	for _, n := range []string{
		"last_progress_timestamp_seconds", "events_found_total", "corps_queued_total",
		"credentials_duplicate_total", "post_retries_total", "post_unconfirmed_total",
		"post_seconds", "post_concurrency", "last_event_id", "controller_ready",
	} {
		if _, ok := types[prefix+n]; !ok {
			t.Errorf("%s%s is not exported before the first run (register it with WithLabelValues() at start)", prefix, n)
		}
	}

	client := http.Client{Timeout: 5 * time.Second}
	testkit.WaitStatus(t, addr, "/status.json", 200, out)
	for path, want := range map[string]string{"/status": "text/html", "/status.json": "application/json"} {
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			t.Errorf("GET %s: %v", path, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %s, want 200 %s; body:\n%s", path, resp.StatusCode, resp.Header.Get("Content-Type"), want, body)
		}
		if !strings.Contains(string(body), "credential_log") {
			t.Errorf("GET %s does not show credential_log's counts:\n%s", path, body)
		}
	}
}
