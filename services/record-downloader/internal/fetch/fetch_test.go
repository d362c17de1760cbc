package fetch

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"tributary.dev/libs/blob"
	"tributary.dev/libs/testkit"
)

// flaky sits in front of an S3 server and breaks the first reads of each
// object named "flaky…": three 503s (the SDK's own attempts, so the
// failure reaches the fetcher), then a body cut off half way (the
// connection dropped), then the real answer.
type flaky struct {
	mu    sync.Mutex
	reads map[string]int
	rp    *httputil.ReverseProxy
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	media := r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/flaky")
	f.mu.Lock()
	n := f.reads[r.URL.Path]
	if media {
		f.reads[r.URL.Path]++
	}
	f.mu.Unlock()
	switch {
	case media && n < 3:
		http.Error(w, "backend unavailable", http.StatusServiceUnavailable)
	case media && n == 3:
		// Announce the whole length, send half, drop the connection.
		rec := httptest.NewRecorder()
		f.rp.ServeHTTP(rec, r)
		body := rec.Body.Bytes()
		w.Header().Set("Content-Length", strings.TrimSpace(rec.Header().Get("Content-Length")))
		if w.Header().Get("Content-Length") == "" {
			w.Header().Set("Content-Length", itoa(len(body)))
		}
		w.WriteHeader(http.StatusOK)
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	default:
		f.rp.ServeHTTP(w, r)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

func TestGetRetriesFailuresAndDroppedConnections(t *testing.T) {
	ctx := context.Background()
	b := testkit.S3(t)
	direct, err := blob.Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("record bytes "), 5000)
	if err := direct.Put(ctx, "recordstreams/record0.0.3/flaky-a.rcd", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(b.Endpoint)
	proxy := httptest.NewServer(&flaky{reads: map[string]int{}, rp: httputil.NewSingleHostReverseProxy(u)})
	t.Cleanup(proxy.Close)
	b.Endpoint = proxy.URL
	store, err := blob.Open(ctx, b, blob.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var failures []error
	var observed int
	f := &Fetcher{Store: store, Attempts: 4, Backoff: 5 * time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Failed: func(err error) { failures = append(failures, err) }, Observe: func(string, time.Duration) { observed++ }}
	got, err := f.Get(ctx, "recordstreams/record0.0.3/flaky-a.rcd", "record")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes, want the object's %d", len(got), len(body))
	}
	if len(failures) != 2 || observed != 1 {
		t.Errorf("%d failed attempts (%v), %d observed; want the 503 and the cut body, then one success", len(failures), failures, observed)
	}

	// A missing object is an answer: no retries.
	failures = nil
	if _, err := f.Get(ctx, "recordstreams/record0.0.3/missing.rcd", "record"); !errors.Is(err, blob.ErrNotFound) {
		t.Errorf("missing object: %v", err)
	}
	if len(failures) != 0 {
		t.Errorf("a missing object was retried: %v", failures)
	}

	// Attempts run out: the error says how many and why.
	f.Attempts = 1
	if err := direct.Put(ctx, "recordstreams/record0.0.3/flaky-b.rcd", bytes.NewReader(body), int64(len(body))); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Get(ctx, "recordstreams/record0.0.3/flaky-b.rcd", "record"); err == nil || !strings.Contains(err.Error(), "1 attempts") || !strings.Contains(err.Error(), "503") {
		t.Errorf("one attempt against a 503: %v", err)
	}
}
