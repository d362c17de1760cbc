package esstub_test

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"tributary.dev/libs/testkit"
)

// TestTemplates checks composable templates and mapping enforcement
// through the official client, on the stand-in and, with
// ELASTICSEARCH_URL, on a real cluster: the assertions are what ES 8
// answers.
func TestTemplates(t *testing.T) {
	targets := map[string]string{"stand-in": testkit.Elasticsearch(t)}
	if real := os.Getenv("ELASTICSEARCH_URL"); real != "" {
		targets["real"] = real
	}
	for name, addr := range targets {
		t.Run(name, func(t *testing.T) { templates(t, addr) })
	}
}

const testTemplate = `{
  "index_patterns": ["%s-*"],
  "priority": 150,
  "template": {
    "settings": {"number_of_shards": 1, "refresh_interval": "1s"},
    "mappings": {
      "dynamic": "strict",
      "properties": {
        "id":      {"type": "keyword"},
        "amount":  {"type": "long"},
        "at":      {"type": "date_nanos"},
        "ok":      {"type": "boolean"},
        "payload": {"type": "binary"},
        "memo":    {"type": "keyword", "index": false},
        "transfers": {"type": "nested", "properties": {
          "account": {"type": "keyword"}, "amount": {"type": "long"}}},
        "topic": {"type": "object", "properties": {"seq": {"type": "long"}}},
        "detail": {"type": "object", "enabled": false}
      }
    }
  }
}`

func templates(t *testing.T, addr string) {
	es := client(t, addr)
	prefix := fmt.Sprintf("tributary-tpl-%d", time.Now().UnixNano())
	name := prefix
	t.Cleanup(func() {
		if res, err := es.Indices.DeleteIndexTemplate(name); err == nil {
			res.Body.Close()
		}
	})
	index := prefix + "-2022.07.13"
	t.Cleanup(func() {
		if res, err := es.Indices.Delete([]string{index, prefix + "-explicit"}); err == nil {
			res.Body.Close()
		}
	})

	if code, _ := do(t)(es.Indices.ExistsIndexTemplate(name)); code != 404 {
		t.Fatalf("exists before put = %d, want 404", code)
	}
	if code, body := do(t)(es.Indices.GetIndexTemplate(es.Indices.GetIndexTemplate.WithName(name))); code != 404 || errType(body) != "resource_not_found_exception" {
		t.Fatalf("get before put = %d %v", code, body)
	}
	body := fmt.Sprintf(testTemplate, prefix)
	for range 2 { // a second put replaces the first
		if code, res := do(t)(es.Indices.PutIndexTemplate(name, strings.NewReader(body))); code != 200 || res["acknowledged"] != true {
			t.Fatalf("put template = %d %v", code, res)
		}
	}
	if code, _ := do(t)(es.Indices.ExistsIndexTemplate(name)); code != 200 {
		t.Fatalf("exists after put = %d", code)
	}
	code, got := do(t)(es.Indices.GetIndexTemplate(es.Indices.GetIndexTemplate.WithName(name)))
	list, _ := got["index_templates"].([]any)
	if code != 200 || len(list) != 1 || list[0].(map[string]any)["name"] != name {
		t.Fatalf("get template = %d %v", code, got)
	}
	if pats := list[0].(map[string]any)["index_template"].(map[string]any)["index_patterns"].([]any); len(pats) != 1 || pats[0] != prefix+"-*" {
		t.Fatalf("template patterns = %v", pats)
	}

	// A template with a typo in its mapping is refused.
	bad := fmt.Sprintf(`{"index_patterns":["%s-bad-*"],"priority":151,"template":{"mappings":{"properties":{"x":{"type":"keywrd"}}}}}`, prefix)
	if code, res := do(t)(es.Indices.PutIndexTemplate(name+"-bad", strings.NewReader(bad))); code != 400 || errType(res) != "mapper_parsing_exception" {
		t.Fatalf("put template with an unknown type = %d %v", code, res)
	}
	bad = fmt.Sprintf(`{"index_patterns":["%s-bad-*"],"priority":151,"template":{"mappings":{"properties":{"x":{"type":"keyword","enabled":false}}}}}`, prefix)
	if code, res := do(t)(es.Indices.PutIndexTemplate(name+"-bad", strings.NewReader(bad))); code != 400 || errType(res) != "mapper_parsing_exception" {
		t.Fatalf("put template with a parameter keyword lacks = %d %v", code, res)
	}
	// Same priority and overlapping patterns: refused.
	overlap := fmt.Sprintf(`{"index_patterns":["%s-2022*"],"priority":150}`, prefix)
	if code, res := do(t)(es.Indices.PutIndexTemplate(name+"-overlap", strings.NewReader(overlap))); code != 400 || errType(res) != "illegal_argument_exception" {
		t.Fatalf("put overlapping template = %d %v", code, res)
	}

	// The first write creates the index with the template's mapping.
	good := `{"id":"0.0.3","amount":"120","at":"2022-07-13T08:46:11.304284003Z","ok":true,"payload":"aGVsbG8=","memo":"bWVtbw==",` +
		`"transfers":[{"account":"0.0.98","amount":-5},{"account":"0.0.3","amount":5}],"topic":{"seq":7},"detail":{"anything":[1,"x",{"y":null}]}}`
	code, res := do(t)(es.Index(index, strings.NewReader(good), es.Index.WithDocumentID("good"), es.Index.WithRefresh("true")))
	if code != 201 {
		t.Fatalf("index good = %d %v", code, res)
	}
	code, m := do(t)(es.Indices.GetMapping(es.Indices.GetMapping.WithIndex(index)))
	mappings, _ := m[index].(map[string]any)["mappings"].(map[string]any)
	props, _ := mappings["properties"].(map[string]any)
	if code != 200 || mappings["dynamic"] != "strict" || props["at"].(map[string]any)["type"] != "date_nanos" || props["transfers"].(map[string]any)["type"] != "nested" {
		t.Fatalf("mapping = %d %v", code, m)
	}
	code, info := do(t)(es.Indices.Get([]string{index}))
	settings, _ := info[index].(map[string]any)["settings"].(map[string]any)["index"].(map[string]any)
	if code != 200 || settings["number_of_shards"] != "1" || settings["refresh_interval"] != "1s" {
		t.Fatalf("settings = %d %v", code, info)
	}
	code, doc := do(t)(es.Get(index, "good"))
	if src, _ := doc["_source"].(map[string]any); code != 200 || src["amount"] != "120" {
		t.Fatalf("get good = %d %v: _source must be the document as sent", code, doc)
	}

	refused := []struct {
		name, doc, errType string
	}{
		{"unmapped field", `{"id":"x","extra":1}`, "strict_dynamic_mapping_exception"},
		{"unmapped nested field", `{"transfers":[{"account":"0.0.2","fee":1}]}`, "strict_dynamic_mapping_exception"},
		{"long from text", `{"amount":"lots"}`, "document_parsing_exception"},
		{"long from boolean", `{"amount":true}`, "document_parsing_exception"},
		{"long out of range", `{"amount":"99999999999999999999"}`, "document_parsing_exception"},
		{"long in a nested object", `{"transfers":[{"amount":"x"}]}`, "document_parsing_exception"},
		{"bad date", `{"at":"yesterday"}`, "document_parsing_exception"},
		{"date before 1970 for date_nanos", `{"at":"1969-12-31T23:59:59Z"}`, "document_parsing_exception"},
		{"boolean from text", `{"ok":"yes"}`, "document_parsing_exception"},
		{"object as a value", `{"topic":5}`, "document_parsing_exception"},
		{"keyword from object", `{"id":{"a":1}}`, "document_parsing_exception"},
		{"binary not base64", `{"payload":"***"}`, "document_parsing_exception"},
	}
	var bulk strings.Builder
	for i, r := range refused {
		fmt.Fprintf(&bulk, `{"index":{"_id":"bad-%d"}}`+"\n%s\n", i, r.doc)
	}
	accepted := []string{
		`{"id":5,"amount":7.9,"ok":"false","at":"2022-07-13"}`, // keyword from a number, long truncated, boolean from text
		`{"id":true,"amount":null,"at":null,"transfers":null,"topic":null,"payload":null}`,
		`{"amount":[1,"2"],"transfers":{"account":"0.0.2","amount":1}}`, // arrays of values, one object for nested
		`{"at":1657701971304,"detail":"a scalar where an object is disabled"}`,
		`{}`,
	}
	for i, a := range accepted {
		fmt.Fprintf(&bulk, `{"index":{"_id":"ok-%d"}}`+"\n%s\n", i, a)
	}
	code, br := do(t)(es.Bulk(strings.NewReader(bulk.String()), es.Bulk.WithIndex(index), es.Bulk.WithRefresh("true")))
	items, _ := br["items"].([]any)
	if code != 200 || br["errors"] != true || len(items) != len(refused)+len(accepted) {
		t.Fatalf("bulk = %d %v", code, br)
	}
	for i, r := range refused {
		item := items[i].(map[string]any)["index"].(map[string]any)
		if item["status"] != float64(400) || errType(item) != r.errType {
			t.Errorf("%s: item = %v, want 400 %s", r.name, item, r.errType)
		}
	}
	for i, a := range accepted {
		item := items[len(refused)+i].(map[string]any)["index"].(map[string]any)
		if item["status"] != float64(201) {
			t.Errorf("%s: item = %v, want 201", a, item)
		}
	}
	if code, res := do(t)(es.Count(es.Count.WithIndex(index))); code != 200 || res["count"] != float64(1+len(accepted)) {
		t.Fatalf("count = %d %v, want %d", code, res, 1+len(accepted))
	}

	// An explicit create takes the template and its own mappings on top.
	explicit := prefix + "-explicit"
	if code, res := do(t)(es.Indices.Create(explicit, es.Indices.Create.WithBody(strings.NewReader(`{"mappings":{"properties":{"more":{"type":"keyword"}}}}`)))); code != 200 {
		t.Fatalf("create explicit = %d %v", code, res)
	}
	code, res = do(t)(es.Index(explicit, strings.NewReader(`{"id":"a","more":"b"}`), es.Index.WithDocumentID("1")))
	if code != 201 {
		t.Fatalf("index into explicit = %d %v", code, res)
	}
	if code, res := do(t)(es.Index(explicit, strings.NewReader(`{"other":"b"}`), es.Index.WithDocumentID("2"))); code != 400 || errType(res) != "strict_dynamic_mapping_exception" {
		t.Fatalf("unmapped field into explicit = %d %v", code, res)
	}

	if code, res := do(t)(es.Indices.DeleteIndexTemplate(name)); code != 200 || res["acknowledged"] != true {
		t.Fatalf("delete template = %d %v", code, res)
	}
	if code, res := do(t)(es.Indices.DeleteIndexTemplate(name)); code != 404 {
		t.Fatalf("delete template again = %d %v, want 404", code, res)
	}
}

// TestWithoutMapping checks an index no template matches still takes any
// document, as before templates existed.
func TestWithoutMapping(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	es := client(t, url)
	if code, res := do(t)(es.Index("free", strings.NewReader(`{"a":{"b":[1,"x"]},"c":"2022"}`), es.Index.WithDocumentID("1"))); code != 201 {
		t.Fatalf("index = %d %v", code, res)
	}
	if srv.Mapping("free") != nil {
		t.Fatalf("mapping = %v, want none", srv.Mapping("free"))
	}
}

// TestFailureInjection checks FailBulk and FailBulkItems answer as
// Elasticsearch does under load, and that nothing is written meanwhile.
func TestFailureInjection(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	bulk := `{"index":{"_id":"1"}}` + "\n" + `{"n":1}` + "\n" + `{"index":{"_id":"2"}}` + "\n" + `{"n":2}` + "\n"
	srv.FailBulk(2, 429)
	for range 2 {
		if code, res := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex("load"))); code != 429 || errType(res) != "es_rejected_execution_exception" || res["status"] != float64(429) {
			t.Fatalf("bulk under FailBulk(429) = %d %v", code, res)
		}
	}
	srv.FailBulk(1, 503)
	if code, res := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex("load"))); code != 503 || errType(res) != "cluster_block_exception" {
		t.Fatalf("bulk under FailBulk(503) = %d %v", code, res)
	}
	srv.FailBulkItems(1, 429)
	code, res := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex("load")))
	items, _ := res["items"].([]any)
	if code != 200 || res["errors"] != true || len(items) != 2 {
		t.Fatalf("bulk under FailBulkItems = %d %v", code, res)
	}
	for _, it := range items {
		item := it.(map[string]any)["index"].(map[string]any)
		if item["status"] != float64(429) || errType(item) != "es_rejected_execution_exception" {
			t.Fatalf("item = %v", item)
		}
	}
	if n := srv.Count("load"); n != 0 {
		t.Fatalf("count after injected failures = %d, want 0", n)
	}
	if code, res := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex("load"))); code != 200 || res["errors"] != false {
		t.Fatalf("bulk after the injected failures = %d %v", code, res)
	}
	docs := srv.Docs("load")
	if len(docs) != 2 || string(docs["1"]) != `{"n":1}` || string(docs["2"]) != `{"n":2}` {
		t.Fatalf("Docs = %v", docs)
	}
}

// TestDelayBulk checks delayed bulk requests answer after the delay and
// write what they carry (each write raising the document's _version).
func TestDelayBulk(t *testing.T) {
	url, srv := testkit.ElasticsearchServer(t)
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{url}, DisableRetry: true})
	if err != nil {
		t.Fatal(err)
	}
	bulk := `{"index":{"_id":"1"}}` + "\n" + `{"n":1}` + "\n"
	const delay = 700 * time.Millisecond
	srv.DelayBulk(delay)
	start := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			if code, res := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex("slow"))); code != 200 || res["errors"] != false {
				t.Errorf("delayed bulk = %d %v", code, res)
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	if took < delay {
		t.Errorf("two delayed bulks answered in %v, before the %v delay", took, delay)
	}
	if v := srv.Versions("slow"); len(v) != 1 || v["1"] != 2 {
		t.Errorf("versions %v, want document 1 written twice (version 2)", v)
	}
	srv.DelayBulk(0)
	if code, _ := do(t)(es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex("slow"))); code != 200 {
		t.Fatalf("bulk = %d", code)
	}
	if v := srv.Versions("slow"); v["1"] != 3 {
		t.Errorf("versions %v, want document 1 at version 3", v)
	}
}
