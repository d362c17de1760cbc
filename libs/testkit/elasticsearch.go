package testkit

import (
	"net/http/httptest"
	"testing"

	"tributary.dev/libs/testkit/esstub"
)

// Elasticsearch starts the Elasticsearch stand-in for this test and
// returns its URL. No Elasticsearch server can be installed where the
// tests run, so the stand-in takes its place; its contract test keeps it
// honest against a real cluster.
func Elasticsearch(t testing.TB) string {
	t.Helper()
	url, _ := ElasticsearchServer(t)
	return url
}

// ElasticsearchServer is Elasticsearch plus the stand-in itself, for tests
// that check what was indexed without going through the API.
func ElasticsearchServer(t testing.TB) (string, *esstub.Server) {
	t.Helper()
	s := esstub.New()
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return srv.URL, s
}
