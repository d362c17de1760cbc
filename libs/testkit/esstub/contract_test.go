package esstub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"tributary.dev/libs/testkit"
)

// TestContract drives the stand-in through the official client. With
// ELASTICSEARCH_URL set, the same test runs against that real cluster too,
// so the stand-in cannot drift from what Elasticsearch does.
func TestContract(t *testing.T) {
	url, _ := testkit.Elasticsearch(t)
	targets := map[string]string{"stand-in": url}
	if real := os.Getenv("ELASTICSEARCH_URL"); real != "" {
		targets["real"] = real
	}
	for name, addr := range targets {
		t.Run(name, func(t *testing.T) { contract(t, addr) })
	}
}

func contract(t *testing.T, addr string) {
	ctx := context.Background()
	es, err := elasticsearch.NewClient(elasticsearch.Config{Addresses: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	index := fmt.Sprintf("tributary-contract-%d", time.Now().UnixNano())
	t.Cleanup(func() { es.Indices.Delete([]string{index}) })

	do := func(res interface {
		String() string
	}, err error) map[string]any {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		_ = json.Unmarshal([]byte(strings.SplitN(res.String(), "] ", 2)[1]), &body)
		return body
	}
	res, err := es.Info()
	if err != nil || res.IsError() {
		t.Fatalf("info: %v %v", err, res)
	}
	res, err = es.Indices.Create(index)
	if err != nil || res.IsError() {
		t.Fatalf("create: %v %v", err, res)
	}
	res, _ = es.Indices.Create(index)
	if res.StatusCode != 400 || !strings.Contains(res.String(), "resource_already_exists_exception") {
		t.Fatalf("second create: %v", res)
	}
	res, _ = es.Indices.Exists([]string{index})
	if res.StatusCode != 200 {
		t.Fatalf("exists: %v", res)
	}

	bulk := strings.Join([]string{
		`{"index":{"_id":"a"}}`, `{"tx":"0.0.3-1","amount":5}`,
		`{"create":{"_id":"b"}}`, `{"tx":"0.0.3-2","amount":7}`,
		`{"create":{"_id":"a"}}`, `{"tx":"dup"}`, // conflict: a exists
		`{"index":{}}`, `{"tx":"auto-id","amount":5}`,
		`{"update":{"_id":"b"}}`, `{"doc":{"amount":8}}`,
		`{"delete":{"_id":"zz"}}`,
	}, "\n") + "\n"
	res, err = es.Bulk(strings.NewReader(bulk), es.Bulk.WithIndex(index), es.Bulk.WithRefresh("true"), es.Bulk.WithContext(ctx))
	if err != nil || res.IsError() {
		t.Fatalf("bulk: %v %v", err, res)
	}
	var br struct {
		Errors bool                        `json:"errors"`
		Items  []map[string]map[string]any `json:"items"`
	}
	body, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(body, &br); err != nil {
		t.Fatal(err)
	}
	if !br.Errors || len(br.Items) != 6 {
		t.Fatalf("bulk answer: errors=%v items=%d: %s", br.Errors, len(br.Items), body)
	}
	wantStatus := []struct {
		verb   string
		status float64
	}{{"index", 201}, {"create", 201}, {"create", 409}, {"index", 201}, {"update", 200}, {"delete", 404}}
	for i, w := range wantStatus {
		item := br.Items[i][w.verb]
		if item == nil || item["status"] != w.status {
			t.Fatalf("item %d = %v, want %s status %v", i, br.Items[i], w.verb, w.status)
		}
	}
	if e, _ := br.Items[2]["create"]["error"].(map[string]any); e["type"] != "version_conflict_engine_exception" {
		t.Fatalf("conflict error = %v", br.Items[2])
	}

	es.Indices.Refresh(es.Indices.Refresh.WithIndex(index))
	cnt := do(es.Count(es.Count.WithIndex(index)))
	if cnt["count"] != float64(3) {
		t.Fatalf("count = %v, want 3", cnt["count"])
	}
	cnt = do(es.Count(es.Count.WithIndex(index), es.Count.WithBody(strings.NewReader(`{"query":{"term":{"amount":5}}}`))))
	if cnt["count"] != float64(2) {
		t.Fatalf("count amount=5 = %v, want 2", cnt["count"])
	}
	got := do(es.Get(index, "b"))
	src, _ := got["_source"].(map[string]any)
	if got["found"] != true || src["amount"] != float64(8) || src["tx"] != "0.0.3-2" {
		t.Fatalf("get b = %v", got)
	}
	res, _ = es.Get(index, "nope")
	if res.StatusCode != 404 {
		t.Fatalf("get missing = %v", res)
	}
	res, _ = es.Bulk(strings.NewReader("{not json}\n"), es.Bulk.WithIndex(index))
	if res.StatusCode != 400 {
		t.Fatalf("malformed bulk = %v", res)
	}
}
