package stack

import (
	"fmt"
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

// envOf is a service's devstack environment as a map.
func envOf(st *Stack, svc service) map[string]string {
	env := map[string]string{}
	for _, kv := range svc.env(st) {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return env
}

// The record-parser binary runs as one service per record-downloader:
// it reads that downloader's DEST_DIR and consumes its stream on its
// NATS, under its own consumer, network, output directory and metrics
// port, against the devstack's database and Elasticsearch stand-in, and
// starts after it.
func TestRecordParserServices(t *testing.T) {
	parsers := lookup("record-parser")
	if len(parsers) != len(lookup("record-downloader")) {
		t.Fatalf("record-parser runs as %d services, want one per record-downloader (%d)", len(parsers), len(lookup("record-downloader")))
	}
	st := &Stack{dir: t.TempDir(), Fixtures: "/fixtures", PGDSN: "postgres://devstack@127.0.0.1:5432/" + Database}
	byName := map[string]service{}
	for _, svc := range knownServices {
		byName[svc.name] = svc
	}
	seen := map[string]map[string]string{}
	for _, p := range parsers {
		env := envOf(st, p)
		for _, k := range []string{"RUN_AS_SERVICE", "RECORD_DIR", "OUTPUT_DIR", "ELASTICSEARCH_URL", "TARGET", "NATS", "NATS_STREAM", "NATS_CONSUMER", "NETWORK", "METRICS_ADDR", "PARSED_STREAM"} {
			if env[k] == "" {
				t.Errorf("%s: %s is not set", p.name, k)
			}
		}
		if env["METRICS_ADDR"] != p.metricsAddr {
			t.Errorf("%s: METRICS_ADDR %s, but the devstack polls %s", p.name, env["METRICS_ADDR"], p.metricsAddr)
		}
		up, ok := byName[p.after]
		if !ok || up.binary() != "record-downloader" {
			t.Errorf("%s: runs after %q, which is no record-downloader service", p.name, p.after)
			continue
		}
		upEnv := envOf(st, up)
		if env["RECORD_DIR"] != upEnv["DEST_DIR"] {
			t.Errorf("%s: RECORD_DIR %s, but %s writes into %s", p.name, env["RECORD_DIR"], up.name, upEnv["DEST_DIR"])
		}
		if env["NATS"] != upEnv["NATS"] || env["NATS_STREAM"] != upEnv["NATS_STREAM"] {
			t.Errorf("%s: consumes %s on %s, but %s announces on %s at %s", p.name, env["NATS_STREAM"], env["NATS"], up.name, upEnv["NATS_STREAM"], upEnv["NATS"])
		}
		if env["TARGET"] != st.PGDSN {
			t.Errorf("%s: TARGET %s, want the devstack's database %s", p.name, env["TARGET"], st.PGDSN)
		}
		if env["ELASTICSEARCH_URL"] != fmt.Sprintf("http://127.0.0.1:%d", ESPort) {
			t.Errorf("%s: ELASTICSEARCH_URL %s, want the stand-in on port %d", p.name, env["ELASTICSEARCH_URL"], ESPort)
		}
		if !strings.HasPrefix(env["OUTPUT_DIR"], st.dir+string(filepath.Separator)) {
			t.Errorf("%s: OUTPUT_DIR %s is outside the devstack's state", p.name, env["OUTPUT_DIR"])
		}
		if env["RUN_AS_SERVICE"] != "true" {
			t.Errorf("%s: RUN_AS_SERVICE %s, want true", p.name, env["RUN_AS_SERVICE"])
		}
		if env["NOTIFICATIONS"] != "true" || env["PARSED_STREAM"] == env["NATS_STREAM"] {
			t.Errorf("%s: NOTIFICATIONS %s, PARSED_STREAM %s: want the parsed events announced on a stream of their own", p.name, env["NOTIFICATIONS"], env["PARSED_STREAM"])
		}
		// The parsed subjects are fixed too: one parser per NATS server.
		for _, k := range []string{"OUTPUT_DIR", "NATS_CONSUMER", "NETWORK", "RECORD_DIR", "NATS"} {
			if seen[k] == nil {
				seen[k] = map[string]string{}
			}
			if prev, ok := seen[k][env[k]]; ok {
				t.Errorf("%s and %s share %s %s", prev, p.name, k, env[k])
			}
			seen[k][env[k]] = p.name
		}
	}
	// Two downloaders on one NATS would put both networks' files into one
	// stream (the downloader's subjects are fixed, and two streams of one
	// server cannot share them): each downloader has a NATS of its own.
	streams := map[string]string{}
	for _, d := range lookup("record-downloader") {
		env := envOf(st, d)
		if prev, ok := streams[env["NATS"]]; ok {
			t.Errorf("%s and %s both announce on NATS %s (streams cannot share subjects)", prev, d.name, env["NATS"])
		}
		streams[env["NATS"]] = d.name
	}
}
