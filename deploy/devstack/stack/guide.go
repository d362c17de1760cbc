package stack

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// Subjects is the NATS subject catalog the services announce on (one
// schema each in proto/events), as a subscriber writes them.
var Subjects = []string{
	"hedera.records.downloaded.>",
	"hedera.records.parsed.>",
	"paper-engine.meta.orders.change",
	"bcreg.events.processed",
	"bcreg.credentials.posted",
	"archive.stored.>",
}

// loaderStream is the s3-loader's JetStream stream (its NATS_STREAM
// default, which the devstack keeps).
const loaderStream = "PAPER_ENGINE_ORDERS"

// Guide is what a newcomer looks at once `make run` is up: each running
// service's pages, the Elasticsearch stand-in's counts, and a nats
// command for every subject and stream. running names the services
// started (devstack -services).
func (st *Stack) Guide(running []string, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nWhere to look (the services log below, prefixed by name):\n")
	for _, svc := range knownServices {
		if !slices.Contains(running, svc.binary()) && !slices.Contains(running, svc.name) {
			continue
		}
		base := "http://" + svc.metricsAddr
		fmt.Fprintf(&b, "  %-28s %s/metrics   %s/readyz?verbose", svc.name, base, base)
		if svc.name == "registry-processor" {
			fmt.Fprintf(&b, "   %s/status", base)
		}
		fmt.Fprintln(&b)
	}
	es := st.ESURL()
	fmt.Fprintf(&b, "\n  Elasticsearch stand-in (documents the record-parsers wrote):\n")
	fmt.Fprintf(&b, "    curl -s %s/hedera-transactions-%s/_count     # the live trickle, today\n", es, now.UTC().Format("2006.01.02"))
	fmt.Fprintf(&b, "    curl -s %s/hedera-transactions-2022.07.13/_count     # the v6 fixtures\n", es)
	fmt.Fprintf(&b, "    NDJSON under %s\n", "the record-parsers' OUTPUT_DIR (.cache/devstack/parsed/)")
	fmt.Fprintf(&b, "\n  NATS (with the nats CLI):\n")
	for _, s := range Subjects {
		server := st.NATSURL()
		fmt.Fprintf(&b, "    nats --server %s sub '%s'\n", server, s)
		if strings.HasPrefix(s, "hedera.") {
			fmt.Fprintf(&b, "    nats --server %s sub '%s'     # the fixture stream\n", st.FixtureNATSURL(), s)
		}
	}
	for _, s := range []struct{ url, name string }{
		{st.NATSURL(), LiveRecordStream}, {st.NATSURL(), ParsedStream}, {st.NATSURL(), loaderStream},
		{st.FixtureNATSURL(), FixtureRecordStream}, {st.FixtureNATSURL(), ParsedStream},
	} {
		fmt.Fprintf(&b, "    nats --server %s stream info %s\n", s.url, s.name)
	}
	return b.String()
}
