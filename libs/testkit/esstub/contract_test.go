package esstub_test

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"tributary.dev/libs/testkit"
)

// TestContract drives the stand-in through the official client. With
// ELASTICSEARCH_URL set, the same assertions run against that real cluster
// too, so the stand-in cannot drift from what Elasticsearch does.
func TestContract(t *testing.T) {
	targets := map[string]string{"stand-in": testkit.Elasticsearch(t)}
	if real := os.Getenv("ELASTICSEARCH_URL"); real != "" {
		targets["real"] = real
	}
	for name, addr := range targets {
		t.Run(name, func(t *testing.T) { contract(t, addr) })
	}
}

func client(t *testing.T, addr string) *elasticsearch.Client {
	t.Helper()
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// do returns a function that gives a response's status and decoded JSON
// body, shaped to take an API call's two results directly.
func do(t *testing.T) func(*esapi.Response, error) (int, map[string]any) {
	return func(res *esapi.Response, err error) (int, map[string]any) {
		t.Helper()
		return decode(t, res, err)
	}
}

func decode(t *testing.T, res *esapi.Response, err error) (int, map[string]any) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var body map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Fatalf("answer is not JSON: %v: %s", err, raw)
		}
	}
	return res.StatusCode, body
}

func errType(body map[string]any) any {
	e, _ := body["error"].(map[string]any)
	return e["type"]
}

func uniqueIndex(t *testing.T, es *elasticsearch.Client) string {
	index := fmt.Sprintf("tributary-contract-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index}); err == nil {
			res.Body.Close()
		}
	})
	return index
}

func contract(t *testing.T, addr string) {
	es := client(t, addr)
	index := uniqueIndex(t, es)

	code, info := do(t)(es.Info())
	if v, _ := info["version"].(map[string]any); code != 200 || !strings.HasPrefix(fmt.Sprint(v["number"]), "8.") {
		t.Fatalf("info = %d %v, want 200 and version 8.x", code, info)
	}

	mappings := `{"mappings":{"properties":{"tx":{"type":"keyword"},"amount":{"type":"long"}}}}`
	if code, body := do(t)(es.Indices.Create(index, es.Indices.Create.WithBody(strings.NewReader(mappings)))); code != 200 || body["acknowledged"] != true || body["index"] != index {
		t.Fatalf("create = %d %v", code, body)
	}
	if code, body := do(t)(es.Indices.Create(index)); code != 400 || errType(body) != "resource_already_exists_exception" {
		t.Fatalf("second create = %d %v, want 400 resource_already_exists_exception", code, body)
	}
	if code, _ := do(t)(es.Indices.Exists([]string{index})); code != 200 {
		t.Fatalf("exists = %d", code)
	}
	if code, _ := do(t)(es.Indices.Exists([]string{index + "-missing"})); code != 404 {
		t.Fatalf("exists of a missing index = %d, want 404", code)
	}
	if code, body := do(t)(es.Indices.Create("Tributary-Upper")); code != 400 || errType(body) != "invalid_index_name_exception" {
		t.Fatalf("create with an upper-case name = %d %v", code, body)
	}

	bulk := strings.Join([]string{
		`{"index":{"_id":"a"}}`, `{"tx":"0.0.3-1","amount":5}`,
		`{"create":{"_id":"b"}}`, `{"tx":"0.0.3-2","amount":7}`,
		`{"create":{"_id":"a"}}`, `{"tx":"dup"}`, // conflict: a exists
		`{"index":{}}`, `{"tx":"auto-id","amount":5}`,
		`{"update":{"_id":"b"}}`, `{"doc":{"amount":8}}`,
		`{"update":{"_id":"a"}}`, `{"doc":{"amount":5}}`, // changes nothing: noop
		`{"delete":{"_id":"zz"}}`,
		`{"index":{"_id":"c"}}`, `{"tx":"0.0.3-3"}`,
		`{"delete":{"_id":"c"}}`,
		`{"index":{"_id":"bad"}}`, `{"tx": `, // a broken document fails its item only
		`{"index":{"_id":"a"}}`, `{"tx":"0.0.3-1","amount":5,"fee":1}`,
	}, "\n") + "\n"
	code, br := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex(index), es.Bulk.WithRefresh("true")))
	items, _ := br["items"].([]any)
	if code != 200 || br["errors"] != true || len(items) != 11 {
		t.Fatalf("bulk = %d errors=%v items=%d: %v", code, br["errors"], len(items), br)
	}
	want := []struct {
		verb, result string
		status       float64
		version      float64 // 0: not checked
		errType      string
	}{
		{"index", "created", 201, 1, ""},
		{"create", "created", 201, 1, ""},
		{"create", "", 409, 0, "version_conflict_engine_exception"},
		{"index", "created", 201, 1, ""},
		{"update", "updated", 200, 2, ""},
		{"update", "noop", 200, 1, ""},
		{"delete", "not_found", 404, 0, ""},
		{"index", "created", 201, 1, ""},
		{"delete", "deleted", 200, 2, ""},
		{"index", "", 400, 0, ""}, // type differs across 8.x minors
		{"index", "updated", 200, 2, ""},
	}
	for i, w := range want {
		m, _ := items[i].(map[string]any)
		item, _ := m[w.verb].(map[string]any)
		if item == nil || item["status"] != w.status || item["_index"] != index {
			t.Fatalf("item %d = %v, want %s status %v in %s", i, m, w.verb, w.status, index)
		}
		if w.result != "" && item["result"] != w.result {
			t.Errorf("item %d result = %v, want %s", i, item["result"], w.result)
		}
		if w.version != 0 && item["_version"] != w.version {
			t.Errorf("item %d _version = %v, want %v", i, item["_version"], w.version)
		}
		if w.errType != "" && errType(item) != w.errType {
			t.Errorf("item %d error = %v, want %s", i, item["error"], w.errType)
		}
		if (w.status >= 400 && w.status != 404) != (item["error"] != nil) {
			t.Errorf("item %d: error field %v for status %v", i, item["error"], w.status)
		}
	}
	autoID, _ := items[3].(map[string]any)["index"].(map[string]any)["_id"].(string)
	if autoID == "" {
		t.Fatalf("auto id missing: %v", items[3])
	}

	if code, body := do(t)(es.Indices.Refresh(es.Indices.Refresh.WithIndex(index))); code != 200 || body["_shards"] == nil {
		t.Fatalf("refresh = %d %v", code, body)
	}
	counts := []struct {
		query string
		want  float64
	}{
		{"", 3},
		{`{"query":{"match_all":{}}}`, 3},
		{`{"query":{"term":{"amount":5}}}`, 2},
		{`{"query":{"term":{"tx":"0.0.3-2"}}}`, 1},
		{`{"query":{"term":{"tx":{"value":"0.0.3-3"}}}}`, 0},
	}
	for _, c := range counts {
		opts := []func(*esapi.CountRequest){es.Count.WithIndex(index)}
		if c.query != "" {
			opts = append(opts, es.Count.WithBody(strings.NewReader(c.query)))
		}
		if code, body := do(t)(es.Count(opts...)); code != 200 || body["count"] != c.want {
			t.Errorf("count %q = %d %v, want %v", c.query, code, body["count"], c.want)
		}
	}

	code, got := do(t)(es.Get(index, "b"))
	src, _ := got["_source"].(map[string]any)
	if code != 200 || got["found"] != true || got["_version"] != float64(2) || src["amount"] != float64(8) || src["tx"] != "0.0.3-2" {
		t.Fatalf("get b = %d %v", code, got)
	}
	code, got = do(t)(es.Get(index, autoID))
	if src, _ := got["_source"].(map[string]any); code != 200 || src["tx"] != "auto-id" {
		t.Fatalf("get %s = %d %v", autoID, code, got)
	}
	if code, got := do(t)(es.Get(index, "nope")); code != 404 || got["found"] != false {
		t.Fatalf("get missing = %d %v", code, got)
	}
	if code, got := do(t)(es.Get(index, "c")); code != 404 || got["found"] != false {
		t.Fatalf("get deleted = %d %v", code, got)
	}
	if code, got := do(t)(es.Get(index+"-missing", "a")); code != 404 || errType(got) != "index_not_found_exception" {
		t.Fatalf("get in a missing index = %d %v", code, got)
	}

	// Single-document writes.
	if code, body := do(t)(es.Index(index, strings.NewReader(`{"tx":"0.0.3-4"}`), es.Index.WithDocumentID("d"))); code != 201 || body["result"] != "created" {
		t.Fatalf("index d = %d %v", code, body)
	}
	if code, body := do(t)(es.Create(index, "d", strings.NewReader(`{"tx":"again"}`))); code != 409 || errType(body) != "version_conflict_engine_exception" {
		t.Fatalf("create d again = %d %v", code, body)
	}
	if code, body := do(t)(es.Index(index, strings.NewReader(`{"tx":"0.0.3-5"}`), es.Index.WithDocumentID("d"), es.Index.WithRefresh("true"))); code != 200 || body["result"] != "updated" || body["_version"] != float64(2) {
		t.Fatalf("index d again = %d %v", code, body)
	}

	// Broken requests fail whole, and write nothing.
	bad := []struct{ name, body string }{
		{"malformed action", "{not json}\n"},
		{"unknown action", `{"upsert":{"_id":"x"}}` + "\n" + `{}` + "\n"},
		{"no trailing newline", `{"index":{"_id":"x"}}` + "\n" + `{"tx":"x"}`},
	}
	for _, b := range bad {
		code, body := do(t)(es.Bulk(strings.NewReader(b.body), es.Bulk.WithIndex(index)))
		if e, _ := body["error"].(map[string]any); code != 400 || e["type"] == nil || e["reason"] == nil || body["status"] != float64(400) {
			t.Errorf("%s: bulk = %d %v, want 400 with an error type and reason", b.name, code, body)
		}
	}
	do(t)(es.Indices.Refresh(es.Indices.Refresh.WithIndex(index)))
	if code, body := do(t)(es.Count(es.Count.WithIndex(index))); code != 200 || body["count"] != float64(4) {
		t.Fatalf("count after rejected bulks = %d %v, want 4 (a, b, auto, d)", code, body)
	}

	if code, body := do(t)(es.Indices.Delete([]string{index})); code != 200 || body["acknowledged"] != true {
		t.Fatalf("delete = %d %v", code, body)
	}
	if code, _ := do(t)(es.Indices.Exists([]string{index})); code != 404 {
		t.Fatalf("exists after delete = %d", code)
	}
}

// TestInspection checks that what the client wrote is what Count and Doc
// report, since service tests assert through them.
func TestInspection(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	es := client(t, url)
	bulk := `{"index":{"_index":"records","_id":"1"}}` + "\n" + `{"consensus":"2024-01-01T00:00:00Z","n":1}` + "\n" +
		`{"index":{"_index":"other","_id":"1"}}` + "\n" + `{"n":2}` + "\n"
	if code, body := do(t)(es.Bulk(strings.NewReader(bulk))); code != 200 || body["errors"] != false {
		t.Fatalf("bulk = %d %v", code, body)
	}
	if srv.Count("records") != 1 || srv.Count("other") != 1 || srv.Count("none") != 0 {
		t.Fatalf("counts records=%d other=%d none=%d", srv.Count("records"), srv.Count("other"), srv.Count("none"))
	}
	doc, ok := srv.Doc("records", "1")
	if !ok || string(doc) != `{"consensus":"2024-01-01T00:00:00Z","n":1}` {
		t.Fatalf("Doc = %s %v", doc, ok)
	}
	if _, ok := srv.Doc("records", "2"); ok {
		t.Fatal("Doc found a document never written")
	}
}

// TestConcurrentBulks runs bulks from many goroutines (under -race) and
// checks every document landed once with the right version.
func TestConcurrentBulks(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	es := client(t, url)
	const workers, perWorker = 8, 50
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for i := range perWorker {
				fmt.Fprintf(&b, `{"index":{"_id":"%d-%d"}}`+"\n"+`{"w":%d,"i":%d}`+"\n", w, i, w, i)
				fmt.Fprintf(&b, `{"index":{"_id":"shared-%d"}}`+"\n"+`{"w":%d}`+"\n", i, w)
			}
			res, err := es.Bulk(strings.NewReader(b.String()), es.Bulk.WithIndex("load"))
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
		}()
	}
	wg.Wait()
	if got := srv.Count("load"); got != workers*perWorker+perWorker {
		t.Fatalf("count = %d, want %d", got, workers*perWorker+perWorker)
	}
	code, got := do(t)(es.Get("load", "shared-0"))
	if code != 200 || got["_version"] != float64(workers) {
		t.Fatalf("shared-0 = %d %v, want version %d (one write per worker)", code, got, workers)
	}
}
