package testkit

import (
	"fmt"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"

	"tributary.dev/libs/config"
)

// GCS starts fake-gcs-server in process over HTTP on a free port with a
// fresh bucket, stopped when the test ends. It returns the server (to seed
// objects the way a publisher would) and the bucket's name; GCSBucket
// turns both into the config blob.Open takes.
func GCS(t testing.TB) (*fakestorage.Server, string) {
	t.Helper()
	srv, err := StartGCS("127.0.0.1", 0)
	if err != nil {
		t.Fatalf("testkit: %v (fake-gcs-server runs in process; check that 127.0.0.1 accepts listeners)", err)
	}
	t.Cleanup(srv.Stop)
	name := "test-" + randomHex(6)
	srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return srv, name
}

// GCSBucket is the config for bucket on srv: the gcs+http:// endpoint tells
// blob.Open to talk the JSON API to a GCS-compatible server without
// credentials.
func GCSBucket(srv *fakestorage.Server, bucket string) config.Bucket {
	return config.Bucket{Endpoint: "gcs+" + srv.URL(), Name: bucket}
}

// StartGCS runs fake-gcs-server on host:port (0 for a free one).
func StartGCS(host string, port int) (*fakestorage.Server, error) {
	if port == 0 {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		port = p
	}
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Host:       host,
		Port:       uint16(port),
		Scheme:     "http",
		PublicHost: fmt.Sprintf("%s:%d", host, port),
	})
	if err != nil {
		return nil, fmt.Errorf("fake-gcs-server: %w", err)
	}
	return srv, nil
}
