package downloader

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tributary.dev/libs/metrics"
)

// Metrics are the downloader's, registered as
// tributary_record_downloader_<name> (the dashboard and alert rules are
// written against these names).
type Metrics struct {
	Files            *prometheus.CounterVec   // kind, node
	Bytes            *prometheus.CounterVec   // kind
	SigFailures      *prometheus.CounterVec   // node
	ConsensusFail    prometheus.Counter       //
	Quarantined      *prometheus.CounterVec   // reason
	NodeLast         *prometheus.GaugeVec     // node
	LastVerified     prometheus.Gauge         //
	Download         *prometheus.HistogramVec // kind
	Errors           *prometheus.CounterVec   // op
	Announced        prometheus.Counter       //
	Unchained        *prometheus.CounterVec   // node
	ChainWait        *prometheus.GaugeVec     // consensus_time
	BookUpdates      *prometheus.CounterVec   // file
	BookNodes        prometheus.Gauge         //
	lastVerifiedNano atomic.Int64

	waitMu    sync.Mutex
	waitingAt string // the consensus time ChainWait has a series for
}

// NewMetrics registers the metrics on srv; a nil srv gives metrics
// registered nowhere (tests, utilities).
func NewMetrics(srv *metrics.Server) *Metrics {
	if srv == nil {
		srv = metrics.New("record-downloader")
	}
	m := &Metrics{
		Files:         srv.Counter("files_total", "Files written to the local record directory, verified, by kind (record, signature, sidecar) and the node whose copy was written.", "kind", "node"),
		Bytes:         srv.Counter("bytes_total", "Bytes written to the local record directory, by kind.", "kind"),
		SigFailures:   srv.Counter("signature_failures_total", "Signature files that did not read or whose SHA384withRSA signature did not verify with the node's key, by node.", "node"),
		ConsensusFail: srv.Counter("consensus_failures_total", "Consensus times whose file hash did not reach CONSENSUS_RATIO of the nodes while later files did (skipped, as the mirror node does).").WithLabelValues(),
		Quarantined:   srv.Counter("quarantined_total", "Files moved to DEST_DIR/_quarantine, by reason (hash_mismatch, bad_signature, bad_gzip, truncated, bad_name: a name refused, not stored).", "reason"),
		NodeLast:      srv.Gauge("node_last_consensus_timestamp_seconds", "Consensus time of the newest signature file listed per node.", "node"),
		LastVerified:  srv.Gauge("last_verified_consensus_timestamp_seconds", "Consensus time of the newest verified record file written.").WithLabelValues(),
		Download:      srv.Histogram("download_seconds", "Latency of one object download (whole body), by kind.", []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}, "kind"),
		Errors:        srv.Counter("errors_total", "Failed operations (retried): list, get, write, publish, state.", "op"),
		Announced:     srv.Counter("announced_total", "hedera.records.downloaded events published.").WithLabelValues(),
		Unchained:     srv.Counter("unchained_copies_total", "Copies of agreed record files refused because they do not continue the chain from the last file written (previous hash or start running hash), by node.", "node"),
		ChainWait:     srv.Gauge("chain_wait_since_timestamp_seconds", "Set while the live stream waits on the chain: an agreed file after the position does not continue it, so nothing is written; the label names the consensus time waited at, the value is when the wait began.", "consensus_time"),
		BookUpdates:   srv.Counter("address_book_updates_total", "Successful FileUpdate/FileAppend transactions of the address-book files in the files written, by file (101, 102).", "file"),
		BookNodes:     srv.Gauge("address_book_nodes", "Nodes in the address book in force at the newest file written (the network the threshold counts).").WithLabelValues(),
	}
	srv.Registry().MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: srv.FullName("lag_seconds"),
		Help: "Wall clock minus the consensus time of the newest verified file written (NaN before the first).",
	}, func() float64 {
		n := m.lastVerifiedNano.Load()
		if n == 0 {
			return math.NaN()
		}
		return time.Since(time.Unix(0, n)).Seconds()
	}))
	return m
}

// Verified records the consensus time of the newest file or block
// written: the lag is measured from it.
func (m *Metrics) Verified(t time.Time) { m.verified(t) }

// verified records the consensus time of the newest file written.
func (m *Metrics) verified(t time.Time) {
	if t.UnixNano() > m.lastVerifiedNano.Load() {
		m.lastVerifiedNano.Store(t.UnixNano())
		m.LastVerified.Set(float64(t.UnixNano()) / 1e9)
	}
}

// chainWait keeps ChainWait to the pass's outcome: one series, named by
// the consensus time waited at, while the stream waits on the chain.
func (m *Metrics) chainWait(res Result) {
	m.waitMu.Lock()
	defer m.waitMu.Unlock()
	at := ""
	if res.WaitingOnChain {
		at = res.Waiting
	}
	if at == m.waitingAt {
		return
	}
	if m.waitingAt != "" {
		m.ChainWait.DeleteLabelValues(m.waitingAt)
	}
	if at != "" {
		m.ChainWait.WithLabelValues(at).Set(float64(time.Now().UnixNano()) / 1e9)
	}
	m.waitingAt = at
}
