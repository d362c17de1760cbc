package stack

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tributary.dev/libs/testkit"
)

// The guide names a nats sub for every subject of the catalog (one per
// schema in proto/events), a stream info for every stream the services
// keep, each running service's pages, and the stand-in's counts.
func TestGuideNamesEverySubjectStreamAndPage(t *testing.T) {
	st := &Stack{}
	guide := st.Guide([]string{"s3-loader", "topic-archiver", "record-downloader", "record-parser", "registry-processor"}, time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	schemas, err := filepath.Glob(filepath.Join(testkit.RepoRoot(), "proto", "events", "*.schema.json"))
	if err != nil || len(schemas) < 6 {
		t.Fatalf("schemas: %v %v", schemas, err)
	}
	for _, p := range schemas {
		subject := strings.TrimSuffix(filepath.Base(p), ".schema.json")
		if subject == "envelope" {
			continue
		}
		if !strings.Contains(guide, "sub '"+subject) {
			t.Errorf("the guide has no nats sub for %s (schema %s)", subject, filepath.Base(p))
		}
	}
	for _, want := range []string{
		"stream info " + LiveRecordStream, "stream info " + FixtureRecordStream, "stream info " + ParsedStream, "stream info PAPER_ENGINE_ORDERS",
		"http://127.0.0.1:19101/metrics", "http://127.0.0.1:19105/readyz?verbose", "http://127.0.0.1:19107/status",
		"/hedera-transactions-2026.12.07/_count", "/hedera-transactions-2022.07.13/_count",
	} {
		if !strings.Contains(guide, want) {
			t.Errorf("the guide lacks %q:\n%s", want, guide)
		}
	}
	if _, err := os.Stat(filepath.Join(testkit.RepoRoot(), "proto", "events")); err != nil {
		t.Fatal(err)
	}
}
