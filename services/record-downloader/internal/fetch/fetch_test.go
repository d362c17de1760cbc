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
	"tributary.dev/libs/config"
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

// hugeObject is an S3 endpoint whose every object claims 2 GiB and whose
// body is zeros without end: what a hostile bucket can serve. It counts
// the range asked for and the bytes it managed to send.
type hugeObject struct {
	mu     sync.Mutex
	ranges []string
	sent   int64
}

func (h *hugeObject) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.ranges = append(h.ranges, r.Header.Get("Range"))
	h.mu.Unlock()
	// The range is ignored, as a broken or hostile server may.
	w.Header().Set("Content-Length", "2147483648")
	w.WriteHeader(http.StatusOK)
	chunk := make([]byte, 64<<10)
	for {
		n, err := w.Write(chunk)
		h.mu.Lock()
		h.sent += int64(n)
		h.mu.Unlock()
		if err != nil || h.sent >= 2<<30 {
			return
		}
	}
}

// A signature object of 2 GiB is refused after at most its cap, asked for
// with a ranged GET and read no further when the server ignores the
// range; it is not retried.
func TestSizeCaps(t *testing.T) {
	h := &hugeObject{}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	ctx := context.Background()
	store, err := blob.Open(ctx, config.Bucket{Endpoint: srv.URL, Name: "hostile", ID: "k", Key: "s"}, blob.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var failures int
	f := &Fetcher{Store: store, Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond, Failed: func(error) { failures++ }}
	start := time.Now()
	_, err = f.Get(ctx, "recordstreams/record0.0.3/2024-01-01T00_00_00.000000000Z.rcd_sig", "signature")
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "65536") {
		t.Fatalf("2 GiB signature: %v", err)
	}
	h.mu.Lock()
	ranges, sent := h.ranges, h.sent
	h.mu.Unlock()
	if len(ranges) != 1 || ranges[0] != "bytes=0-65536" || failures != 0 {
		t.Errorf("requests %v, failed attempts %d: want one ranged GET of the cap + 1 byte, not retried", ranges, failures)
	}
	// What the server got out before the connection closed is kernel
	// buffers' worth, not the 2 GiB it announced.
	if sent > 64<<20 {
		t.Errorf("the server sent %d bytes before the client gave up", sent)
	}
	t.Logf("refused after %v; the server sent %d bytes", time.Since(start), sent)
	if Limit("record") != 50<<20 || Limit("sidecar") != 50<<20 || Limit("signature") != 64<<10 {
		t.Errorf("caps %d %d %d", Limit("record"), Limit("sidecar"), Limit("signature"))
	}
}
