package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/buildinfo"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestServeEndpoints(t *testing.T) {
	s := New("s3-loader")
	rows := s.Counter("rows_total", "rows loaded", "entity", "op")
	rows.WithLabelValues("orders", "CREATE").Add(3)
	dbUp := true
	s.AddCheck("postgres", func(context.Context) error {
		if !dbUp {
			return errors.New("connection refused")
		}
		return nil
	})

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serveOn(ctx, ln, zap.NewNop()) }()
	base := "http://" + ln.Addr().String()

	if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	code, body := get(t, base+"/metrics")
	if code != 200 || !strings.Contains(body, `tributary_s3_loader_rows_total{entity="orders",op="CREATE"} 3`) || !strings.Contains(body, "go_goroutines") {
		t.Fatalf("/metrics = %d, lacks the counter or runtime metrics:\n%s", code, body)
	}
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Fatalf("/readyz before the main loop ran = %d %q, want 503 starting", code, body)
	}
	s.Beat()
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	if code, body := get(t, base+"/readyz?verbose"); code != 200 || !strings.Contains(body, "[+] postgres: ok") {
		t.Fatalf("/readyz?verbose with postgres up = %d %q", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `tributary_s3_loader_dependency_up{dependency="postgres"} 1`) {
		t.Fatalf("/metrics lacks postgres up:\n%s", body)
	}
	// A dependency down leaves the process ready (a drain or rollout
	// must not wait on PostgreSQL); ?verbose, the metric and so the
	// alerts say it.
	dbUp = false
	if code, body := get(t, base+"/readyz"); code != 200 || strings.Contains(body, "postgres") {
		t.Fatalf("/readyz with postgres down = %d %q, want 200 for the process itself", code, body)
	}
	if code, body := get(t, base+"/readyz?verbose"); code != 503 || !strings.Contains(body, "[-] postgres: connection refused") || !strings.HasPrefix(body, "ready\n") {
		t.Fatalf("/readyz?verbose with postgres down = %d %q", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, `tributary_s3_loader_dependency_up{dependency="postgres"} 0`) {
		t.Fatalf("/metrics lacks postgres down:\n%s", body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestServeBadAddrNamesVariable(t *testing.T) {
	err := New("x").Serve(context.Background(), "nonsense:addr:1", zap.NewNop())
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("err = %v", err)
	}
}

// serve runs s on a real listener for the test and returns its base URL.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.serveOn(ctx, ln, zap.NewNop()) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return "http://" + ln.Addr().String()
}

// waitStatus polls url until it answers want, and fails after a generous
// wait; it returns the body of that answer.
func waitStatus(t *testing.T, url string, want int) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body := get(t, url)
		if code == want {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still answers %d %q after 30s, want %d", url, code, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHealthzFailsWhenTheLoopStalls: healthy while the loop beats, 503
// once it has been silent for longer than the window (also when it never
// beat at all), healthy again after a Beat; the gauge shows the last beat.
func TestHealthzFailsWhenTheLoopStalls(t *testing.T) {
	const window = 2 * time.Second
	cases := []struct {
		name      string
		beatFirst bool
	}{
		{"never beats", false},
		{"beat, then silence", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := New("topic-archiver")
			base := serve(t, s)
			if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
				t.Fatalf("/healthz before the window is set = %d %q", code, body)
			}
			s.SetStallWindow(window)
			if c.beatFirst {
				s.Beat()
			}
			// Right after arming (or a beat) the window has not passed:
			// this holds on any machine, since nothing has waited yet.
			if silent, _, bad := s.stalled(time.Now()); bad {
				t.Fatalf("stalled right after arming: silent %s", silent)
			}
			body := waitStatus(t, base+"/healthz", http.StatusServiceUnavailable)
			if !strings.Contains(body, "no progress of the main loop for") || !strings.Contains(body, "(window 2s)") {
				t.Fatalf("503 body does not say how long and the window: %q", body)
			}
			before := time.Now()
			s.Beat()
			if code, body := get(t, base+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
				t.Fatalf("/healthz right after a Beat = %d %q", code, body)
			}
			_, metricsBody := get(t, base+"/metrics")
			var ts float64
			for _, line := range strings.Split(metricsBody, "\n") {
				if v, ok := strings.CutPrefix(line, "tributary_topic_archiver_last_progress_timestamp_seconds "); ok {
					if _, err := fmt.Sscan(v, &ts); err != nil {
						t.Fatalf("gauge line %q: %v", line, err)
					}
				}
			}
			if got := time.Unix(0, int64(ts*1e9)); got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
				t.Fatalf("last_progress_timestamp_seconds = %v (%s), want the last Beat near %s", ts, got, before)
			}
		})
	}
}

// TestStallWindowZeroDisables: with the check off, a silent loop stays
// healthy.
func TestStallWindowZeroDisables(t *testing.T) {
	s := New("s3-loader")
	s.SetStallWindow(time.Nanosecond)
	s.SetStallWindow(0)
	base := serve(t, s)
	if silent, _, bad := s.stalled(time.Now().Add(time.Hour)); bad {
		t.Fatalf("disabled check reports a stall after %s", silent)
	}
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz with the check off = %d %q", code, body)
	}
}

// A service's own page, added after the server started, is served beside
// /metrics; other paths are 404.
func TestHandleAddsPages(t *testing.T) {
	s := New("svc")
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	s.Handle("/status", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "3 outstanding") }))
	for path, want := range map[string]int{"/status": 200, "/nope": 404, "/metrics": 200} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want || (path == "/status" && string(body) != "3 outstanding") {
			t.Errorf("%s: %d %q, want %d", path, resp.StatusCode, body, want)
		}
	}
}

// A stalled loop is not ready either: the pod is not working.
func TestReadyzFailsWhenTheLoopStalls(t *testing.T) {
	s := New("record-parser")
	base := serve(t, s)
	s.SetStallWindow(time.Second)
	s.Beat()
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz right after a beat = %d %q", code, body)
	}
	body := waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	if !strings.HasPrefix(body, "stalled: no progress") {
		t.Fatalf("/readyz of a stalled loop says %q", body)
	}
}

// Checks run side by side: one that hangs until its deadline does not
// hold the others' results, and a scrape waits for the slowest only.
func TestChecksRunTogetherWithinTheirDeadline(t *testing.T) {
	s := New("topic-archiver")
	for _, n := range []string{"kafka", "postgres", "nats"} {
		s.AddCheck(n, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}
	s.AddCheck("bucket archive", func(context.Context) error { return nil })
	start := time.Now()
	res := s.checkAll(context.Background())
	if took := time.Since(start); took > 3*checkTimeout-time.Second {
		t.Fatalf("three hanging checks took %s: they ran one after another", took)
	}
	var got []string
	for _, r := range res {
		got = append(got, fmt.Sprintf("%s=%v", r.name, r.err))
	}
	want := "bucket archive=<nil> kafka=context deadline exceeded nats=context deadline exceeded postgres=context deadline exceeded"
	if strings.Join(got, " ") != want {
		t.Fatalf("results = %v, want %s", got, want)
	}
}

// Every process says which build it is, under one name for all services.
func TestBuildInfo(t *testing.T) {
	s := New("record-downloader")
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	_, body := get(t, srv.URL+"/metrics")
	want := fmt.Sprintf(`tributary_build_info{go_version=%q,revision=%q,service="record-downloader",version=%q} 1`,
		buildinfo.GoVersion(), buildinfo.Revision(), buildinfo.Version())
	if !strings.Contains(body, want) {
		t.Fatalf("/metrics lacks %s:\n%s", want, body)
	}
}
