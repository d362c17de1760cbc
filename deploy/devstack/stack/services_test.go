package stack

import (
	"path/filepath"
	"strings"
	"testing"
)

// The record-downloader binary runs as two devstack services, each with
// every variable the service requires, its own metrics port and its own
// DEST_DIR, and every service's METRICS_ADDR is the port the devstack
// polls.
func TestRecordDownloaderServices(t *testing.T) {
	svcs := lookup("record-downloader")
	if len(svcs) != 2 {
		t.Fatalf("record-downloader runs as %d services, want 2 (the trickle and the fixtures)", len(svcs))
	}
	st := &Stack{dir: t.TempDir(), Fixtures: "/fixtures"}
	ports, dests := map[string]string{}, map[string]string{}
	for _, svc := range knownServices {
		if prev, ok := ports[svc.metricsAddr]; ok {
			t.Fatalf("%s and %s share metrics address %s", prev, svc.name, svc.metricsAddr)
		}
		ports[svc.metricsAddr] = svc.name
	}
	for _, svc := range svcs {
		env := map[string]string{}
		for _, kv := range svc.env(st) {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		for _, k := range []string{"BUCKET", "BUCKET_PREFIX", "BUCKET_ENDPOINT", "NODES", "ADDRESS_BOOK", "DEST_DIR", "NATS", "METRICS_ADDR"} {
			if env[k] == "" {
				t.Errorf("%s: %s is not set", svc.name, k)
			}
		}
		if env["METRICS_ADDR"] != svc.metricsAddr {
			t.Errorf("%s: METRICS_ADDR %s, but the devstack polls %s", svc.name, env["METRICS_ADDR"], svc.metricsAddr)
		}
		if prev, ok := dests[env["DEST_DIR"]]; ok {
			t.Errorf("%s and %s write into the same DEST_DIR %s", prev, svc.name, env["DEST_DIR"])
		}
		dests[env["DEST_DIR"]] = svc.name
		if !strings.HasPrefix(env["DEST_DIR"], st.RecordsDir()+string(filepath.Separator)) {
			t.Errorf("%s: DEST_DIR %s is outside the devstack's state", svc.name, env["DEST_DIR"])
		}
		if env["BUCKET"] != "gs://"+RecordBucket {
			t.Errorf("%s: BUCKET %s, want gs://%s", svc.name, env["BUCKET"], RecordBucket)
		}
	}
}
