package blob

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"tributary.dev/libs/config"
	"tributary.dev/libs/testkit"
)

// recorder is a reverse proxy in front of a real server that keeps, per
// request, the method, path and what a requester-pays bucket looks at:
// the userProject query parameter (GCS) and the x-amz-request-payer
// header (S3).
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (r *recorder) proxy(t *testing.T, target string) string {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.Path+" userProject="+req.URL.Query().Get("userProject")+" payer="+req.Header.Get("x-amz-request-payer"))
		r.mu.Unlock()
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// requests lists what was recorded, and empties the record.
func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.seen
	r.seen = nil
	return out
}

func TestRequesterPays(t *testing.T) {
	ctx := context.Background()
	const key, body = "recordstreams/record0.0.3/a.rcd", "record bytes"
	for _, tc := range []struct {
		name string
		// open returns a store through the proxy, with opts, whose bucket
		// already holds key.
		open func(t *testing.T, rec *recorder, opts ...Option) Store
		want string // what every read and list request must carry
	}{
		{"gcs", func(t *testing.T, rec *recorder, opts ...Option) Store {
			srv, name := testkit.GCS(t)
			direct, err := Open(ctx, testkit.GCSBucket(srv, name))
			if err != nil {
				t.Fatal(err)
			}
			put(t, direct, key, body)
			s, err := Open(ctx, config.Bucket{Endpoint: "gcs+" + rec.proxy(t, srv.URL()), Name: name}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, "userProject=billing-123"},
		{"s3", func(t *testing.T, rec *recorder, opts ...Option) Store {
			srv := testkit.RunS3(t)
			b, err := srv.CreateBucket(ctx, "test-payer")
			if err != nil {
				t.Fatal(err)
			}
			direct, err := Open(ctx, b)
			if err != nil {
				t.Fatal(err)
			}
			put(t, direct, key, body)
			b.Endpoint = rec.proxy(t, srv.Endpoint)
			s, err := Open(ctx, b, opts...)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}, "payer=requester"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			s := tc.open(t, rec, WithGCSBillingProject("billing-123"), WithS3RequesterPays())
			if got := listKeys(t, s, "recordstreams/", ""); len(got) != 1 || got[0] != key+":12" {
				t.Fatalf("list: %v", got)
			}
			rc, err := s.Open(ctx, key)
			if got := read(t, rc, err); got != body {
				t.Fatalf("read %q, want %q", got, body)
			}
			rc, err = s.ReadRange(ctx, key, 7, 5)
			if got := read(t, rc, err); got != "bytes" {
				t.Fatalf("range read %q", got)
			}
			reqs := rec.requests()
			if len(reqs) < 3 {
				t.Fatalf("the proxy saw %d requests, want a list and two reads: %v", len(reqs), reqs)
			}
			for _, r := range reqs {
				if !strings.Contains(r, " "+tc.want) {
					t.Errorf("request %q does not carry %s", r, tc.want)
				}
			}

			// Without the options nothing is sent: the header and the
			// parameter come from them, not from the SDK's defaults.
			plain := tc.open(t, rec)
			listKeys(t, plain, "recordstreams/", "")
			rc, err = plain.Open(ctx, key)
			read(t, rc, err)
			for _, r := range rec.requests() {
				if strings.Contains(r, " "+tc.want) {
					t.Errorf("request %q carries %s without the option", r, tc.want)
				}
			}
		})
	}
}

// Without a key in the bucket config, WithS3DefaultCredentials finds the
// credentials where the AWS SDK's default chain looks: here a profile in
// a shared credentials file. Without the option the requests go out
// unsigned by any key the server knows, and are refused.
func TestS3DefaultCredentials(t *testing.T) {
	b := testkit.S3(t)
	dir := t.TempDir()
	creds := filepath.Join(dir, "credentials")
	profile := "[tributary-test]\naws_access_key_id = " + b.ID + "\naws_secret_access_key = " + b.Key.Value() + "\n"
	if err := os.WriteFile(creds, []byte(profile), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"} {
		t.Setenv(v, "")
	}
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_PROFILE", "tributary-test")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	ctx := context.Background()
	keyless := b
	keyless.ID, keyless.Key = "", ""

	s, err := Open(ctx, keyless, WithS3DefaultCredentials())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a/b", strings.NewReader("x"), 1); err != nil {
		t.Fatalf("put with the profile's key: %v", err)
	}
	n := 0
	if err := s.List(ctx, "a/", "", func(Object) error { n++; return nil }); err != nil || n != 1 {
		t.Fatalf("list with the profile's key: %d objects, %v", n, err)
	}
	anon, err := Open(ctx, keyless)
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.List(ctx, "a/", "", func(Object) error { return nil }); err == nil {
		t.Error("a request without the default chain's key was accepted: the test proves nothing")
	}
}
