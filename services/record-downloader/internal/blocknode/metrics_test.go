package blocknode

import (
	"strings"
	"testing"

	"tributary.dev/libs/metrics"
)

// The client's metrics are the service's: on its server, named
// tributary_record_downloader_block_node_*, every one exported once a
// client has been made.
func TestMetricNames(t *testing.T) {
	srv := metrics.New("record-downloader")
	m := NewMetrics(srv)
	c, err := New(Config{Nodes: []Node{{Addr: "127.0.0.1:40840"}}}, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m.Blocks.WithLabelValues("127.0.0.1:40840").Add(0)
	m.Bytes.WithLabelValues("127.0.0.1:40840").Add(0)
	m.Failures.WithLabelValues("127.0.0.1:40840", "stall").Add(0)
	families, err := srv.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{
		"tributary_record_downloader_block_node_blocks_total":                    false,
		"tributary_record_downloader_block_node_bytes_total":                     false,
		"tributary_record_downloader_block_node_failures_total":                  false,
		"tributary_record_downloader_block_node_benched_until_timestamp_seconds": false,
		"tributary_record_downloader_block_node_current":                         false,
		"tributary_record_downloader_block_node_gave_up_total":                   false,
	}
	for _, f := range families {
		if strings.Contains(f.GetName(), "block_node") {
			if _, ok := want[f.GetName()]; !ok {
				t.Errorf("unexpected metric %s", f.GetName())
			}
			want[f.GetName()] = true
		}
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("%s not exported", name)
		}
	}
}
