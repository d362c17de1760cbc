package esout_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"tributary.dev/libs/testkit"
	"tributary.dev/services/record-parser/internal/esout"
)

// fullDoc is a document with every field of the document contract set,
// so the strict mapping must know each of them. Values follow the
// mirror-node REST formats; i varies the ids.
func fullDoc(i int) []byte {
	ts := fmt.Sprintf("1657701971.%09d", 304284003+i)
	return []byte(fmt.Sprintf(`{"consensus_timestamp":%q,"transaction_id":"0.0.2-1657701960-123456789","valid_start_timestamp":"1657701960.123456789",`+
		`"valid_duration_seconds":"120","name":"ETHEREUMTRANSACTION","type":50,"result":"SUCCESS","charged_tx_fee":%d,"max_fee":"-1",`+
		`"memo_base64":"bWVtbw==","node":"0.0.3","nonce":0,"scheduled":false,"parent_consensus_timestamp":null,"entity_id":"0.0.1002",`+
		`"transaction_hash":"q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJCrze8SNFZ4kKvN7xI0VniQ","bytes":"AQID",`+
		`"batch_key":"0x1220cdcd","max_custom_fees":[{"account_id":"0.0.2","amount":100,"denominating_token_id":null}],`+
		`"transfers":[{"account":"0.0.3","amount":1000,"is_approval":false},{"account":"0.0.2","amount":-1000,"is_approval":false,"errata":"DELETE"}],`+
		`"token_transfers":[{"token_id":"0.0.1500","account":"0.0.2","amount":-5,"is_approval":true}],`+
		`"nft_transfers":[{"is_approval":false,"receiver_account_id":"0.0.2","sender_account_id":null,"serial_number":1,"token_id":"0.0.1501"}],`+
		`"staking_reward_transfers":[{"account":"0.0.800","amount":17}],`+
		`"assessed_custom_fees":[{"amount":5,"collector_account_id":"0.0.900","token_id":"0.0.1500","effective_payer_account_ids":["0.0.2"]}],`+
		`"consensus_at":"2022-07-13T08:46:11.%09dZ","record_file":"2022-07-13T08_46_11.304284003Z.rcd.gz","block_number":6,"index_in_file":%d,`+
		`"topic_message":{"topic_id":"0.0.1200","sequence_number":3,"running_hash":"AAEC","running_hash_version":3,"message":"aGk="},`+
		`"contract_result":{"contract_id":"0.0.1002","gas_used":21000,"error_message":"","call_result":"AAAA"},`+
		`"ethereum":{"hash":"0x0102","data":"AQI=","call_data_file_id":null,"max_gas_allowance":0},`+
		`"sidecars":[{"type":"CONTRACT_STATE_CHANGE","migration":false,"detail":{"stateChanges":[{"contractId":{"contractNum":"1002"}}]}}],`+
		`"parse_error":"proto: cannot parse","raw_transaction":"AQID","raw_record":"BAUG"}`, ts, 100+i, 304284003+i, i))
}

func docs(n int, src func(int) []byte) []esout.Doc {
	out := make([]esout.Doc, n)
	for i := range out {
		out[i] = esout.Doc{ID: fmt.Sprintf("1657701971.%09d", 304284003+i), Source: src(i)}
	}
	return out
}

func newOutput(t *testing.T, url string, cfg esout.Config) *esout.Output {
	t.Helper()
	cfg.URLs = []string{url}
	if cfg.Timeout == 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Backoff == 0 {
		cfg.Backoff, cfg.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	}
	o, err := esout.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestIndexName(t *testing.T) {
	// 1657701971.304284003 is 2022-07-13T08:46:11Z (the v6 fixture's
	// name); the last nanosecond of a day stays in that day.
	for ns, want := range map[int64]string{
		1657701971304284003: "hedera-transactions-2022.07.13",
		1657756799999999999: "hedera-transactions-2022.07.13",
		1657756800000000000: "hedera-transactions-2022.07.14",
		1567188600419072000: "hedera-transactions-2019.08.30",
	} {
		if got := esout.IndexName(ns); got != want {
			t.Errorf("IndexName(%d) = %s, want %s", ns, got, want)
		}
	}
}

func TestTemplateShape(t *testing.T) {
	var tpl struct {
		IndexPatterns []string `json:"index_patterns"`
		Template      struct {
			Settings map[string]any `json:"settings"`
			Mappings map[string]any `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(esout.Template(), &tpl); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(tpl.IndexPatterns, []string{"hedera-transactions-*"}) || tpl.Template.Mappings["dynamic"] != "strict" ||
		tpl.Template.Settings["number_of_shards"] != float64(1) || tpl.Template.Settings["refresh_interval"] != "1s" {
		t.Fatalf("template = %+v", tpl)
	}
	props := tpl.Template.Mappings["properties"].(map[string]any)
	typ := func(path string) any {
		m := props
		parts := strings.Split(path, ".")
		for _, p := range parts[:len(parts)-1] {
			m = m[p].(map[string]any)["properties"].(map[string]any)
		}
		f, _ := m[parts[len(parts)-1]].(map[string]any)
		return f["type"]
	}
	for path, want := range map[string]string{
		"consensus_at": "date_nanos", "consensus_timestamp": "keyword", "transfers": "nested", "transfers.amount": "long",
		"max_fee": "long", "valid_duration_seconds": "long", "memo_base64": "keyword", "sidecars.detail": "object",
		"raw_record": "binary", "topic_message.message": "binary", "nft_transfers.serial_number": "long",
	} {
		if got := typ(path); got != want {
			t.Errorf("%s: type %v, want %s", path, got, want)
		}
	}
	// Template returns a copy: the embedded bytes cannot be changed.
	b := esout.Template()
	b[0] = 'x'
	if esout.Template()[0] != '{' {
		t.Fatal("Template hands out its own bytes")
	}
}

// TestWrite installs the template, writes documents over several bulk
// requests and workers, and reads the whole index back from the stand-in.
func TestWrite(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	m := esout.NewMetrics(nil)
	o := newOutput(t, url, esout.Config{FlushBytes: 8 << 10, Workers: 3, Metrics: m})
	ctx := ctxT(t, 20*time.Second)
	if err := o.Check(ctx); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := o.Install(ctx); err != nil {
			t.Fatal(err)
		}
	}
	index := esout.IndexName(1657701971304284003)
	in := docs(300, fullDoc)
	rej, err := o.Write(ctx, index, in)
	if err != nil || len(rej) != 0 {
		t.Fatalf("Write = %v, %v", rej, err)
	}
	var tpl struct {
		Template struct {
			Mappings map[string]any `json:"mappings"`
		} `json:"template"`
	}
	_ = json.Unmarshal(esout.Template(), &tpl)
	if got := srv.Mapping(index); !reflect.DeepEqual(got, tpl.Template.Mappings) {
		t.Fatalf("the auto-created index's mapping is not the template's: %v", got)
	}
	want := map[string]json.RawMessage{}
	for _, d := range in {
		want[d.ID] = d.Source
	}
	if got := srv.Docs(index); !reflect.DeepEqual(got, want) {
		t.Fatalf("index holds %d documents, want %d with the exact sources", len(got), len(want))
	}

	// Written again with new contents (a file parsed again): replaced, not added.
	again := docs(300, func(i int) []byte { return bytes.Replace(fullDoc(i), []byte(`"nonce":0`), []byte(`"nonce":1`), 1) })
	if rej, err := o.Write(ctx, index, again); err != nil || len(rej) != 0 {
		t.Fatalf("second Write = %v, %v", rej, err)
	}
	got := srv.Docs(index)
	if len(got) != 300 || !bytes.Equal(got[again[7].ID], again[7].Source) {
		t.Fatalf("after rewrite: %d documents, doc 7 = %s", len(got), got[again[7].ID])
	}
	if n := testutil.ToFloat64(m.Retries); n != 0 {
		t.Fatalf("retries = %v, want 0", n)
	}
	if rej, err := o.Write(ctx, index, nil); err != nil || rej != nil {
		t.Fatalf("empty Write = %v, %v", rej, err)
	}
}

// TestRejected checks documents the mapping refuses come back with the
// server's error, the others are indexed, and the first refusal is logged.
func TestRejected(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	core, logs := observer.New(zap.InfoLevel)
	m := esout.NewMetrics(nil)
	o := newOutput(t, url, esout.Config{Log: zap.New(core), Metrics: m})
	ctx := ctxT(t, 10*time.Second)
	if err := o.Install(ctx); err != nil {
		t.Fatal(err)
	}
	index := esout.IndexName(1657701971304284003)
	in := docs(4, fullDoc)
	in[1].Source = bytes.Replace(in[1].Source, []byte(`"nonce":0`), []byte(`"nonce":0,"surprise":1`), 1)
	in[2].Source = bytes.Replace(in[2].Source, []byte(`"charged_tx_fee":102`), []byte(`"charged_tx_fee":"lots"`), 1)
	in[3].Source = []byte("{\n  \"consensus_timestamp\": \"1657701971.304284006\",\n  \"scheduled\": true\n}") // pretty-printed is fine
	rej, err := o.Write(ctx, index, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 2 || rej[0].ID != in[1].ID || rej[0].Status != 400 || rej[0].Type != "strict_dynamic_mapping_exception" ||
		!strings.Contains(rej[0].Reason, "[surprise]") || !bytes.Equal(rej[0].Source, in[1].Source) ||
		rej[1].ID != in[2].ID || rej[1].Type != "document_parsing_exception" || !strings.Contains(rej[1].Reason, "[charged_tx_fee]") {
		t.Fatalf("rejected = %+v", rej)
	}
	if got := srv.Docs(index); len(got) != 2 || !bytes.Equal(got[in[0].ID], in[0].Source) || string(got[in[3].ID]) != `{"consensus_timestamp":"1657701971.304284006","scheduled":true}` {
		t.Fatalf("indexed = %v", got)
	}
	if n := testutil.ToFloat64(m.ItemErrors.WithLabelValues("strict_dynamic_mapping_exception")); n != 1 {
		t.Fatalf("item errors = %v", n)
	}
	entries := logs.All()
	if len(entries) != 1 || entries[0].ContextMap()["first_id"] != in[1].ID || entries[0].ContextMap()["refused"] != int64(2) {
		t.Fatalf("log = %+v", entries)
	}
}

// TestRetries checks overload and unavailability, of whole requests and
// of items, are retried until the documents are in.
func TestRetries(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	m := esout.NewMetrics(nil)
	o := newOutput(t, url, esout.Config{Metrics: m, Retries: 5})
	ctx := ctxT(t, 10*time.Second)
	index := esout.IndexName(1657701971304284003)
	in := docs(20, fullDoc)
	for _, c := range []struct {
		name string
		fail func()
	}{
		{"request 429", func() { srv.FailBulk(2, 429) }},
		{"request 503", func() { srv.FailBulk(3, 503) }},
		{"items 429", func() { srv.FailBulkItems(2, 429) }},
		{"items 503", func() { srv.FailBulkItems(1, 503) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := testutil.ToFloat64(m.Retries)
			c.fail()
			if rej, err := o.Write(ctx, index, in); err != nil || len(rej) != 0 {
				t.Fatalf("Write = %v, %v", rej, err)
			}
			if srv.Count(index) != len(in) {
				t.Fatalf("count = %d", srv.Count(index))
			}
			if testutil.ToFloat64(m.Retries) == before {
				t.Fatal("no retry counted")
			}
		})
	}
	if n := testutil.ToFloat64(m.ItemErrors.WithLabelValues("es_rejected_execution_exception")); n != float64(2*len(in)) {
		t.Fatalf("item errors = %v, want %d", n, 2*len(in))
	}
}

// TestKeepsFailing checks Write gives up with an error, within its
// retries or the caller's deadline, when the server does not recover.
func TestKeepsFailing(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	index := esout.IndexName(1657701971304284003)
	in := docs(5, fullDoc)

	o := newOutput(t, url, esout.Config{Retries: 3})
	srv.FailBulkItems(1000, 429)
	_, err := o.Write(ctxT(t, 5*time.Second), index, in)
	if err == nil || !strings.Contains(err.Error(), "5 of 5 documents still failing after 4 attempts") || !strings.Contains(err.Error(), index) {
		t.Fatalf("Write = %v", err)
	}

	o = newOutput(t, url, esout.Config{Retries: 1000, Backoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	srv.FailBulk(100000, 503)
	start := time.Now()
	_, err = o.Write(ctxT(t, 300*time.Millisecond), index, in)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("Write = %v after %v, want the deadline", err, time.Since(start))
	}
	if srv.Count(index) != 0 {
		t.Fatalf("count = %d", srv.Count(index))
	}
}

// TestStalledServer checks the per-request timeout: a server that takes
// the request and goes quiet costs one timeout per attempt.
func TestStalledServer(t *testing.T) {
	addr, _ := testkit.ElasticsearchServer(t)
	u, _ := url.Parse(addr)
	p := testkit.Proxy(t, u.Host)
	o := newOutput(t, "http://"+p.Addr(), esout.Config{Timeout: 100 * time.Millisecond, Retries: 2})
	p.Stall()
	start := time.Now()
	_, err := o.Write(ctxT(t, 5*time.Second), esout.IndexName(0), docs(1, fullDoc))
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || time.Since(start) > 2*time.Second {
		t.Fatalf("Write = %v after %v", err, time.Since(start))
	}
	if err := o.Check(ctxT(t, 5*time.Second)); err == nil {
		t.Fatal("Check passed against a stalled server")
	}
}

func TestNewNeedsURL(t *testing.T) {
	if _, err := esout.New(esout.Config{}); err == nil {
		t.Fatal("New without URLs succeeded")
	}
}

// TestContract runs the output against the stand-in and, when
// ELASTICSEARCH_URL is set, against that real cluster, reading back
// through the API only.
func TestContract(t *testing.T) {
	targets := map[string]string{"stand-in": testkit.Elasticsearch(t)}
	if real := os.Getenv("ELASTICSEARCH_URL"); real != "" {
		targets["real"] = real
	}
	for name, addr := range targets {
		t.Run(name, func(t *testing.T) { contract(t, addr) })
	}
}

func contract(t *testing.T, addr string) {
	ctx := ctxT(t, 30*time.Second)
	o := newOutput(t, addr, esout.Config{FlushBytes: 4 << 10})
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("hedera-transactions-contract-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	// call runs one API request and decodes its answer; "$raw" keeps the
	// body for failure messages.
	call := func(f func() (int, io.ReadCloser, error)) map[string]any {
		t.Helper()
		status, body, err := f()
		if err != nil {
			t.Fatal(err)
		}
		defer body.Close()
		raw, _ := io.ReadAll(body)
		out := map[string]any{}
		_ = json.Unmarshal(raw, &out)
		if status != 200 {
			t.Fatalf("status %d: %s", status, raw)
		}
		out["$raw"] = string(raw)
		return out
	}

	if err := o.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := o.Install(ctx); err != nil {
		t.Fatal(err)
	}
	in := docs(50, fullDoc)
	bad := fullDoc(50)
	in = append(in, esout.Doc{ID: "unmapped", Source: bytes.Replace(bad, []byte(`"nonce":0`), []byte(`"nonce":0,"extra":true`), 1)},
		esout.Doc{ID: "wrong-type", Source: bytes.Replace(bad, []byte(`"block_number":6`), []byte(`"block_number":"six"`), 1)})
	rej, err := o.Write(ctx, index, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(rej) != 2 || rej[0].Type != "strict_dynamic_mapping_exception" || rej[1].Type != "document_parsing_exception" || rej[0].Status != 400 || rej[1].Status != 400 {
		t.Fatalf("rejected = %+v", rej)
	}
	if rej, err := o.Write(ctx, index, in[:50]); err != nil || len(rej) != 0 { // again: overwrites
		t.Fatalf("second Write = %v %v", rej, err)
	}
	m := call(func() (int, io.ReadCloser, error) {
		r, err := es.Indices.GetMapping(es.Indices.GetMapping.WithIndex(index), es.Indices.GetMapping.WithContext(ctx))
		if err != nil {
			return 0, nil, err
		}
		return r.StatusCode, r.Body, nil
	})
	mappings, _ := m[index].(map[string]any)["mappings"].(map[string]any)
	if mappings["dynamic"] != "strict" {
		t.Fatalf("mapping = %v", m["$raw"])
	}
	call(func() (int, io.ReadCloser, error) {
		r, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index), es.Indices.Refresh.WithContext(ctx))
		if err != nil {
			return 0, nil, err
		}
		return r.StatusCode, r.Body, nil
	})
	c := call(func() (int, io.ReadCloser, error) {
		r, err := es.Count(es.Count.WithIndex(index), es.Count.WithContext(ctx))
		if err != nil {
			return 0, nil, err
		}
		return r.StatusCode, r.Body, nil
	})
	if c["count"] != float64(50) {
		t.Fatalf("count = %v", c["$raw"])
	}
	for _, i := range []int{0, 49} {
		r, err := es.Get(index, in[i].ID, es.Get.WithContext(ctx))
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Source  json.RawMessage `json:"_source"`
			Version int             `json:"_version"`
		}
		err = json.NewDecoder(r.Body).Decode(&got)
		r.Body.Close()
		if err != nil || !bytes.Equal(got.Source, in[i].Source) || got.Version != 2 {
			t.Fatalf("get %s: %v version %d source %s", in[i].ID, err, got.Version, got.Source)
		}
	}
}
