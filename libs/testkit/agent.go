package testkit

import (
	"net/http/httptest"
	"testing"

	"tributary.dev/libs/testkit/agentstub"
)

// Agent starts the credential-agent stub for this test; its URL is in
// Stub.URL.
func Agent(t testing.TB, opts agentstub.Options) *agentstub.Stub {
	t.Helper()
	s := agentstub.New(opts)
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}
