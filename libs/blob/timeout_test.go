package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/config"
	"tributary.dev/libs/testkit"
)

// stallable is a store reached through a proxy that can stall, and a
// direct store on the same bucket to seed and check it.
type stallable struct {
	direct, proxied Store
	proxy           *testkit.TCPProxy
}

// viaProxy points b's endpoint at a proxy in front of its server.
func viaProxy(t *testing.T, b config.Bucket, timeout time.Duration) stallable {
	t.Helper()
	ctx := context.Background()
	scheme, rest, _ := strings.Cut(b.Endpoint, "://")
	u, err := url.Parse("http://" + rest)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testkit.Proxy(t, u.Host)
	pb := b
	pb.Endpoint = scheme + "://" + proxy.Addr()
	direct, err := Open(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	proxied, err := Open(ctx, pb, WithTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	return stallable{direct: direct, proxied: proxied, proxy: proxy}
}

func stallables(t *testing.T, timeout time.Duration) map[string]stallable {
	gsrv, gname := testkit.GCS(t)
	return map[string]stallable{
		"s3":  viaProxy(t, testkit.S3(t), timeout),
		"gcs": viaProxy(t, testkit.GCSBucket(gsrv, gname), timeout),
	}
}

// bounded runs op and fails the test if it has not returned within a
// minute: a deadline that does not work shows as this failure, not as a
// test that hangs until the go test timeout.
func bounded(t *testing.T, what string, op func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- op() }()
	select {
	case err := <-done:
		return err
	case <-time.After(time.Minute):
		t.Fatalf("%s against a stalled server did not return within a minute", what)
		return nil
	}
}

func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// TestStalledServerTimesOut: with the server behind a proxy that stops
// forwarding, every kind of request fails with an error IsTimeout knows,
// instead of hanging the caller; after the proxy resumes the same store
// works again.
func TestStalledServerTimesOut(t *testing.T) {
	const timeout = time.Second
	for name, st := range stallables(t, timeout) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			seed := body(64 << 10)
			if err := st.direct.Put(ctx, "seg/0001", bytes.NewReader(seed), int64(len(seed))); err != nil {
				t.Fatal(err)
			}
			// Through the proxy, before the stall: it works.
			if got := readKey(t, st.proxied, "seg/0001"); got != string(seed) {
				t.Fatalf("read through the proxy: %d bytes, want the %d seeded", len(got), len(seed))
			}

			st.proxy.Stall()
			ops := []struct {
				name string
				do   func() error
			}{
				{"list", func() error {
					return st.proxied.List(ctx, "seg/", "", func(Object) error { return nil })
				}},
				{"dirs", func() error {
					_, err := st.proxied.Dirs(ctx, "")
					return err
				}},
				{"open", func() error {
					rc, err := st.proxied.Open(ctx, "seg/0001")
					if err != nil {
						return err
					}
					defer rc.Close()
					_, err = io.ReadAll(rc)
					return err
				}},
				{"read range", func() error {
					rc, err := st.proxied.ReadRange(ctx, "seg/0001", 10, 100)
					if err != nil {
						return err
					}
					defer rc.Close()
					_, err = io.ReadAll(rc)
					return err
				}},
				{"put", func() error {
					return st.proxied.Put(ctx, "seg/stalled-put", bytes.NewReader(seed), int64(len(seed)))
				}},
				{"delete", func() error { return st.proxied.Delete(ctx, "seg/0001") }},
			}
			for _, op := range ops {
				err := bounded(t, op.name, op.do)
				if err == nil {
					t.Errorf("%s against a stalled server succeeded", op.name)
					continue
				}
				if !IsTimeout(err) {
					t.Errorf("%s against a stalled server: IsTimeout(%v) = false", op.name, err)
				}
			}

			st.proxy.Resume()
			if got := readKey(t, st.proxied, "seg/0001"); got != string(seed) {
				t.Fatalf("read after resume: %d bytes, want the %d seeded", len(got), len(seed))
			}
			if err := st.proxied.Put(ctx, "seg/0002", strings.NewReader("after"), 5); err != nil {
				t.Fatalf("put after resume: %v", err)
			}
			var keys []string
			if err := st.proxied.List(ctx, "seg/", "", func(o Object) error { keys = append(keys, o.Key); return nil }); err != nil {
				t.Fatalf("list after resume: %v", err)
			}
			if !contains(keys, "seg/0001") || !contains(keys, "seg/0002") {
				t.Fatalf("list after resume = %v, want seg/0001 and seg/0002", keys)
			}
		})
	}
}

// TestStreamingReadIdleTimeout: the deadline of a streaming read is an
// idle timeout per Read. A consumer that pauses between Reads for longer
// than the timeout still gets every byte; a server that stops sending
// mid-body fails the read with a timeout.
func TestStreamingReadIdleTimeout(t *testing.T) {
	const timeout = time.Second
	// Large enough that the socket buffers between server, proxy and
	// client cannot hold it all when the proxy stalls.
	big := body(48 << 20)
	for name, st := range stallables(t, timeout) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := st.direct.Put(ctx, "big", bytes.NewReader(big), int64(len(big))); err != nil {
				t.Fatal(err)
			}

			// A slow consumer is not a stalled server.
			rc, err := st.proxied.Open(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			head := make([]byte, 1024)
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * timeout) // the consumer's own work, longer than the timeout
			rest, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				t.Fatalf("read after a pause of the consumer: %v", err)
			}
			if got := append(head, rest...); !bytes.Equal(got, big) {
				t.Fatalf("read %d bytes, want the %d stored", len(got), len(big))
			}

			// A server that goes quiet mid-body is.
			rc, err = st.proxied.Open(ctx, "big")
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadFull(rc, head); err != nil {
				t.Fatal(err)
			}
			st.proxy.Stall()
			var n int64
			err = bounded(t, "streaming read", func() error {
				var err error
				n, err = io.Copy(io.Discard, rc)
				return err
			})
			if err == nil || !IsTimeout(err) {
				t.Fatalf("read from a server that stopped sending: %d more bytes, err %v, want a timeout", n, err)
			}
			if int(n)+len(head) >= len(big) {
				t.Fatalf("the whole object arrived (%d bytes) before the stall took hold; make it larger", int(n)+len(head))
			}
			st.proxy.Resume()
		})
	}
}

func TestIsTimeout(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("refused"), false},
		{ErrNotFound, false},
		{fmt.Errorf("list: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("%w (1s): %w", errTimeout, context.Canceled), true},
		{context.Canceled, false},
	}
	for _, c := range cases {
		if got := IsTimeout(c.err); got != c.want {
			t.Errorf("IsTimeout(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func readKey(t *testing.T, s Store, key string) string {
	t.Helper()
	rc, err := s.Open(context.Background(), key)
	return read(t, rc, err)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
