package metrics

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
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
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz = %d %q", code, body)
	}
	dbUp = false
	if code, body := get(t, base+"/readyz"); code != 503 || !strings.Contains(body, "postgres: connection refused") {
		t.Fatalf("/readyz with postgres down = %d %q", code, body)
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
