package testkit

import (
	"net/http/httptest"
	"testing"

	"tributary.dev/libs/testkit/esstub"
)

// Elasticsearch starts the Elasticsearch stand-in for this test and
// returns its URL and the stand-in itself (to look inside).
func Elasticsearch(t testing.TB) (string, *esstub.Server) {
	t.Helper()
	s := esstub.New()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, s
}
