// Package esstub is an in-process stand-in for Elasticsearch 8, faithful to
// the parts Tributary uses — index create/exists/delete, _bulk with
// per-item results, _count, _doc get/put, _refresh, composable index
// templates and mapping enforcement — so record-parser tests
// run the real go-elasticsearch client against it. The same contract test
// runs against a real cluster when ELASTICSEARCH_URL is set.
package esstub

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Server holds indices in memory.
type Server struct {
	mu        sync.Mutex
	indices   map[string]*index
	templates map[string]*indexTemplate
	seq       int64 // _seq_no source; per server, so parallel servers never share state

	// Test-only failure injection (FailBulk, FailBulkItems) and
	// slowness (DelayBulk).
	failBulk, failBulkStatus   int
	failItems, failItemsStatus int
	bulkDelay                  time.Duration
}

type index struct {
	docs     map[string]*doc
	mappings map[string]any    // nil: no mapping, anything goes
	settings map[string]string // flat, "index.…" keys
	created  time.Time
}

type doc struct {
	source  json.RawMessage
	version int64
	seqNo   int64
}

// New returns an empty stand-in.
func New() *Server {
	return &Server{indices: map[string]*index{}, templates: map[string]*indexTemplate{}}
}

// FailBulk makes the next n _bulk requests fail whole with status, before
// anything is written: 429 as a coordinating node that rejects a request
// (es_rejected_execution_exception), 503 and other 5xx as a cluster that
// is not ready (cluster_block_exception), anything else with a generic
// error. Test-only behaviour of the stand-in, to exercise retries.
func (s *Server) FailBulk(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failBulk, s.failBulkStatus = n, status
}

// FailBulkItems makes every item of the next n _bulk requests fail with
// status (the request itself answers 200 with errors: true), as a shard
// whose write queue is full does (429, es_rejected_execution_exception)
// or whose primary is unavailable (503, unavailable_shards_exception).
// Nothing of those requests is written. Test-only behaviour.
func (s *Server) FailBulkItems(n, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failItems, s.failItemsStatus = n, status
}

// DelayBulk makes every _bulk request from now on take d longer before
// it is applied and answered, as an overloaded cluster does (0: no
// delay). Requests are delayed side by side, not queued. Test-only
// behaviour.
func (s *Server) DelayBulk(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bulkDelay = d
}

// Versions returns every document's _version in an index by id: 1 for a
// document written once, n after n writes.
func (s *Server) Versions(name string) map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int64{}
	if ix := s.indices[name]; ix != nil {
		for id, d := range ix.docs {
			out[id] = d.version
		}
	}
	return out
}

// Docs returns every document of an index by id, for tests that compare
// whole indices.
func (s *Server) Docs(name string) map[string]json.RawMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]json.RawMessage{}
	if ix := s.indices[name]; ix != nil {
		for id, d := range ix.docs {
			out[id] = append(json.RawMessage(nil), d.source...)
		}
	}
	return out
}

// Mapping returns an index's mappings (nil when it has none or does not
// exist).
func (s *Server) Mapping(name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		return ix.mappings
	}
	return nil
}

// Start serves on addr (host:port, ":0" for any) and returns its URL and
// a function that stops it.
func (s *Server) Start(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("elasticsearch stand-in: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// Count is how many documents an index holds.
func (s *Server) Count(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		return len(ix.docs)
	}
	return 0
}

// Doc returns a document's source.
func (s *Server) Doc(name, id string) (json.RawMessage, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		if d := ix.docs[id]; d != nil {
			return d.source, true
		}
	}
	return nil, false
}

// Handler serves the API. Every answer carries X-Elastic-Product, which
// the official client checks before it trusts a server.
func (s *Server) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		w.Header().Set("Content-Type", "application/json")
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if parts[0] == "" {
			parts = nil
		}
		m := r.Method
		switch {
		case len(parts) == 0 && (m == http.MethodGet || m == http.MethodHead):
			reply(w, 200, map[string]any{"name": "esstub", "cluster_name": "tributary", "cluster_uuid": "esstub",
				"version": map[string]any{"number": "8.19.7", "build_flavor": "default", "lucene_version": "9.12.0",
					"minimum_wire_compatibility_version": "7.17.0", "minimum_index_compatibility_version": "7.0.0"},
				"tagline": "You Know, for Search"})
		case len(parts) == 2 && parts[0] == "_cluster" && parts[1] == "health" && m == http.MethodGet:
			// Readiness probes (make run, compose healthchecks) ask this.
			reply(w, 200, map[string]any{"cluster_name": "tributary", "status": "green", "timed_out": false, "number_of_nodes": 1})
		case len(parts) == 1 && parts[0] == "_bulk" && (m == http.MethodPost || m == http.MethodPut):
			s.bulk(w, r, "")
		case len(parts) <= 2 && len(parts) >= 1 && parts[0] == "_index_template":
			name := ""
			if len(parts) == 2 {
				name = parts[1]
			}
			s.indexTemplates(w, r, name)
		case len(parts) == 1 && m == http.MethodPut:
			s.createIndex(w, r, parts[0])
		case len(parts) == 1 && (m == http.MethodHead || m == http.MethodGet):
			s.mu.Lock()
			var body map[string]any
			ix, ok := s.indices[parts[0]]
			if ok {
				body = map[string]any{parts[0]: map[string]any{"aliases": map[string]any{}, "mappings": ix.mappingsBody(), "settings": ix.settingsBody(parts[0])}}
			}
			s.mu.Unlock()
			switch {
			case !ok:
				notFoundIndex(w, parts[0])
			case m == http.MethodGet:
				reply(w, 200, body)
			}
		case len(parts) == 2 && parts[1] == "_mapping" && m == http.MethodGet:
			s.mu.Lock()
			var body map[string]any
			ix, ok := s.indices[parts[0]]
			if ok {
				body = map[string]any{parts[0]: map[string]any{"mappings": ix.mappingsBody()}}
			}
			s.mu.Unlock()
			if !ok {
				notFoundIndex(w, parts[0])
				return
			}
			reply(w, 200, body)
		case len(parts) == 1 && m == http.MethodDelete:
			s.mu.Lock()
			_, ok := s.indices[parts[0]]
			delete(s.indices, parts[0])
			s.mu.Unlock()
			if !ok {
				notFoundIndex(w, parts[0])
				return
			}
			reply(w, 200, map[string]any{"acknowledged": true})
		case len(parts) == 2 && parts[1] == "_bulk" && (m == http.MethodPost || m == http.MethodPut):
			s.bulk(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "_refresh" && (m == http.MethodPost || m == http.MethodGet):
			// Every write is visible at once here, so a refresh only has
			// to know the index.
			s.mu.Lock()
			_, ok := s.indices[parts[0]]
			s.mu.Unlock()
			if !ok {
				notFoundIndex(w, parts[0])
				return
			}
			reply(w, 200, map[string]any{"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0}})
		case len(parts) == 2 && parts[1] == "_count" && (m == http.MethodGet || m == http.MethodPost):
			s.count(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "_doc" && m == http.MethodPost:
			s.putDoc(w, r, parts[0], newID(), "index")
		case len(parts) == 3 && parts[1] == "_doc" && (m == http.MethodGet || m == http.MethodHead):
			s.getDoc(w, parts[0], parts[2])
		case len(parts) == 3 && parts[1] == "_doc" && (m == http.MethodPut || m == http.MethodPost):
			action := "index"
			if r.URL.Query().Get("op_type") == "create" {
				action = "create"
			}
			s.putDoc(w, r, parts[0], parts[2], action)
		case len(parts) == 3 && parts[1] == "_create" && (m == http.MethodPut || m == http.MethodPost):
			s.putDoc(w, r, parts[0], parts[2], "create")
		case len(parts) == 3 && parts[1] == "_doc" && m == http.MethodDelete:
			s.mu.Lock()
			res, status := s.write("delete", parts[0], parts[2], nil)
			s.mu.Unlock()
			replyWrite(w, status, res)
		default:
			reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("no handler found for uri [%s] and method [%s] in the stand-in", r.URL.Path, m)))
		}
	})
}

func reply(w http.ResponseWriter, code int, body any) {
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}

func errorBody(typ, reason string) map[string]any {
	e := map[string]any{"type": typ, "reason": reason}
	return map[string]any{"error": map[string]any{"root_cause": []any{e}, "type": typ, "reason": reason}, "status": 400}
}

func notFoundIndex(w http.ResponseWriter, name string) {
	b := errorBody("index_not_found_exception", "no such index ["+name+"]")
	b["status"] = 404
	reply(w, 404, b)
}

func newID() string {
	b := make([]byte, 15)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// invalidIndexName says why Elasticsearch would refuse name, or "".
func invalidIndexName(name string) string {
	switch {
	case name == "" || name == "." || name == "..":
		return "must not be '', '.' or '..'"
	case strings.ToLower(name) != name:
		return "must be lowercase"
	case strings.ContainsAny(name[:1], "_-+"):
		return "must not start with '_', '-', or '+'"
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return `must not contain the following characters [ , ", *, \\, <, |, ,, >, /, ?, #, :]`
	case len(name) > 255:
		return "index name is too long"
	}
	return ""
}

func invalidIndexBody(name, why string) map[string]any {
	return errorBody("invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", name, why))
}

func (s *Server) createIndex(w http.ResponseWriter, r *http.Request, name string) {
	if why := invalidIndexName(name); why != "" {
		reply(w, 400, invalidIndexBody(name, why))
		return
	}
	var body struct {
		Mappings map[string]any `json:"mappings"`
		Settings map[string]any `json:"settings"`
	}
	raw, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &body); err != nil {
			reply(w, 400, errorBody("x_content_parse_exception", "[1:1] failed to parse create index request: "+err.Error()))
			return
		}
		if body.Mappings != nil {
			if e := checkMapping("", body.Mappings); e != "" {
				reply(w, 400, errorBody("mapper_parsing_exception", "Failed to parse mapping: "+e))
				return
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.indices[name]; ok {
		reply(w, 400, errorBody("resource_already_exists_exception", "index ["+name+"] already exists"))
		return
	}
	s.indices[name] = s.newIndex(name, body.Mappings, body.Settings)
	reply(w, 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name})
}

// ix returns an index, creating it as Elasticsearch does on first write.
// Callers hold s.mu.
func (s *Server) ix(name string) *index {
	ix := s.indices[name]
	if ix == nil {
		ix = s.newIndex(name, nil, nil)
		s.indices[name] = ix
	}
	return ix
}

// write applies one document operation and returns the item result.
// For update, source is the whole update body ({"doc":…}). Callers hold
// s.mu.
func (s *Server) write(action, name, id string, source json.RawMessage) (map[string]any, int) {
	res := map[string]any{"_index": name, "_id": id}
	fail := func(status int, typ, reason string) (map[string]any, int) {
		res["status"] = status
		res["error"] = map[string]any{"type": typ, "reason": reason, "index": name}
		return res, status
	}
	refuse := func(e *docError) (map[string]any, int) {
		res["status"] = 400
		res["error"] = e.body(name)
		return res, 400
	}
	if why := invalidIndexName(name); why != "" {
		return fail(400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", name, why))
	}
	if action != "delete" && action != "update" {
		// Elasticsearch parses an index/create source on the shard, so a
		// bad document fails its item, not the request.
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(source, &obj); err != nil {
			return fail(400, "document_parsing_exception", "[1:1] failed to parse: "+err.Error())
		}
	}
	ix := s.ix(name)
	if action == "index" || action == "create" {
		if e := validate(ix.mappings, id, source); e != nil {
			return refuse(e)
		}
	}
	cur := ix.docs[id]
	put := func(src json.RawMessage) {
		s.seq++
		d := &doc{source: src, version: 1, seqNo: s.seq}
		res["result"], res["status"] = "created", 201
		if cur != nil {
			d.version = cur.version + 1
			res["result"], res["status"] = "updated", 200
		}
		ix.docs[id] = d
		res["_version"], res["_seq_no"], res["_primary_term"] = d.version, d.seqNo, 1
	}
	switch action {
	case "create":
		if cur != nil {
			return fail(409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, cur.version))
		}
		put(source)
	case "index":
		put(source)
	case "update":
		var body struct {
			Doc         json.RawMessage `json:"doc"`
			DocAsUpsert bool            `json:"doc_as_upsert"`
			Upsert      json.RawMessage `json:"upsert"`
		}
		if err := json.Unmarshal(source, &body); err != nil || body.Doc == nil {
			return fail(400, "action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
		}
		if cur == nil {
			switch {
			case body.DocAsUpsert:
				if e := validate(ix.mappings, id, body.Doc); e != nil {
					return refuse(e)
				}
				put(body.Doc)
			case body.Upsert != nil:
				if e := validate(ix.mappings, id, body.Upsert); e != nil {
					return refuse(e)
				}
				put(body.Upsert)
			default:
				return fail(404, "document_missing_exception", fmt.Sprintf("[%s]: document missing", id))
			}
			break
		}
		merged := map[string]json.RawMessage{}
		_ = json.Unmarshal(cur.source, &merged)
		patch := map[string]json.RawMessage{}
		if err := json.Unmarshal(body.Doc, &patch); err != nil {
			return fail(400, "document_parsing_exception", "[1:1] failed to parse: "+err.Error())
		}
		for k, v := range patch {
			merged[k] = v
		}
		src, _ := json.Marshal(merged)
		before, _ := json.Marshal(mustMap(cur.source))
		if bytes.Equal(src, before) {
			// detect_noop is on by default: an update that changes
			// nothing keeps the version.
			res["result"], res["status"], res["_version"], res["_seq_no"], res["_primary_term"] = "noop", 200, cur.version, cur.seqNo, 1
			break
		}
		// The merged document is parsed like any other.
		if e := validate(ix.mappings, id, src); e != nil {
			return refuse(e)
		}
		put(src)
	case "delete":
		if cur == nil {
			res["result"], res["status"], res["_version"] = "not_found", 404, 1
			break
		}
		delete(ix.docs, id)
		s.seq++
		res["result"], res["status"], res["_version"], res["_seq_no"], res["_primary_term"] = "deleted", 200, cur.version+1, s.seq, 1
	}
	res["_shards"] = map[string]int{"total": 1, "successful": 1, "failed": 0}
	return res, res["status"].(int)
}

func mustMap(src json.RawMessage) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	_ = json.Unmarshal(src, &m)
	return m
}

// bulk reads NDJSON action/source pairs and answers per item, as the
// real API does: one failing item does not fail the request, but a line
// that cannot be parsed as an action fails the whole request before
// anything is written, like Elasticsearch's request parser.
func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defaultIndex string) {
	start := time.Now()
	data, err := io.ReadAll(r.Body)
	if err != nil {
		reply(w, 400, errorBody("parse_exception", err.Error()))
		return
	}
	if len(bytes.TrimSpace(data)) == 0 {
		reply(w, 400, errorBody("action_request_validation_exception", "Validation Failed: 1: no requests added;"))
		return
	}
	if data[len(data)-1] != '\n' {
		reply(w, 400, errorBody("illegal_argument_exception", "The bulk request must be terminated by a newline [\\n]"))
		return
	}
	type op struct {
		verb, index, id string
		source          json.RawMessage
	}
	var ops []op
	lines := bytes.Split(data[:len(data)-1], []byte("\n"))
	for i := 0; i < len(lines); i++ {
		line := i + 1
		text := bytes.TrimSpace(lines[i])
		if len(text) == 0 {
			continue
		}
		var action map[string]json.RawMessage
		if err := json.Unmarshal(text, &action); err != nil {
			reply(w, 400, errorBody("x_content_parse_exception", fmt.Sprintf("[%d:1] Malformed action/metadata line [%d]: %v", line, line, err)))
			return
		}
		if len(action) != 1 {
			reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected a single action, found %d", line, len(action))))
			return
		}
		for verb, raw := range action {
			var meta struct {
				Index string `json:"_index"`
				ID    string `json:"_id"`
			}
			if err := json.Unmarshal(raw, &meta); err != nil {
				reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT but found [%s]", line, bytes.TrimSpace(raw))))
				return
			}
			o := op{verb: verb, index: meta.Index, id: meta.ID}
			if o.index == "" {
				o.index = defaultIndex
			}
			switch verb {
			case "index", "create", "update":
				i++
				if i >= len(lines) {
					reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("The bulk request must be terminated by a newline [\\n] (action on line %d has no source)", line)))
					return
				}
				o.source = append(json.RawMessage(nil), bytes.TrimSpace(lines[i])...)
				if verb == "update" && !json.Valid(o.source) {
					// Update bodies are parsed with the request.
					reply(w, 400, errorBody("x_content_parse_exception", fmt.Sprintf("[%d:1] malformed update body", i+1)))
					return
				}
			case "delete":
			default:
				reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", line, verb)))
				return
			}
			if o.index == "" {
				reply(w, 400, errorBody("action_request_validation_exception", "Validation Failed: 1: index is missing;"))
				return
			}
			if o.id == "" {
				if verb != "index" && verb != "create" {
					reply(w, 400, errorBody("action_request_validation_exception", "Validation Failed: 1: id is missing;"))
					return
				}
				o.id = newID()
			}
			ops = append(ops, o)
		}
	}

	s.mu.Lock()
	delay := s.bulkDelay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failBulk > 0 {
		s.failBulk--
		reply(w, s.failBulkStatus, requestFailure(s.failBulkStatus))
		return
	}
	failItems := 0
	if s.failItems > 0 {
		s.failItems--
		failItems = s.failItemsStatus
	}
	items := make([]any, 0, len(ops))
	errorsSeen := false
	for _, o := range ops {
		if failItems != 0 {
			errorsSeen = true
			items = append(items, map[string]any{o.verb: itemFailure(failItems, o.index, o.id)})
			continue
		}
		res, _ := s.write(o.verb, o.index, o.id, o.source)
		if _, failed := res["error"]; failed {
			// A delete of a missing document is not_found, not a failure.
			errorsSeen = true
		}
		items = append(items, map[string]any{o.verb: res})
	}
	reply(w, 200, map[string]any{"took": time.Since(start).Milliseconds(), "errors": errorsSeen, "items": items})
}

// requestFailure is the body Elasticsearch gives a whole bulk request it
// refuses with status.
func requestFailure(status int) map[string]any {
	var b map[string]any
	switch {
	case status == 429:
		b = errorBody("es_rejected_execution_exception", "rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=1024, max_coordinating_and_primary_bytes=0]")
	case status >= 500:
		b = errorBody("cluster_block_exception", "blocked by: [SERVICE_UNAVAILABLE/1/state not recovered / initialized];")
	default:
		b = errorBody("illegal_argument_exception", "request refused by the stand-in's failure injection")
	}
	b["status"] = status
	return b
}

// itemFailure is one bulk item failing with status, as a shard answers.
func itemFailure(status int, index, id string) map[string]any {
	e := map[string]any{"type": "es_rejected_execution_exception", "index": index,
		"reason": "rejected execution of primary operation [shard_detail=[" + index + "][0][node], shard_write_queue=10000] on EsThreadPoolExecutor[name = node/write, queue capacity = 10000]"}
	if status != 429 {
		e = map[string]any{"type": "unavailable_shards_exception", "index": index,
			"reason": "[" + index + "][0] primary shard is not active Timeout: [1m], request: [BulkShardRequest [[" + index + "][0]] containing [1] requests]"}
	}
	return map[string]any{"_index": index, "_id": id, "status": status, "error": e}
}

func (s *Server) count(w http.ResponseWriter, r *http.Request, name string) {
	var q struct {
		Query map[string]map[string]any `json:"query"`
	}
	body, _ := io.ReadAll(r.Body)
	if len(bytes.TrimSpace(body)) > 0 {
		if err := json.Unmarshal(body, &q); err != nil {
			reply(w, 400, errorBody("parsing_exception", err.Error()))
			return
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		notFoundIndex(w, name)
		return
	}
	n := 0
	for _, d := range ix.docs {
		if matches(q.Query, d.source) {
			n++
		}
	}
	reply(w, 200, map[string]any{"count": n, "_shards": map[string]int{"total": 1, "successful": 1, "skipped": 0, "failed": 0}})
}

// matches understands match_all and term/match on one top-level field,
// which is what our tests and tools ask.
func matches(q map[string]map[string]any, source json.RawMessage) bool {
	if len(q) == 0 {
		return true
	}
	var doc map[string]any
	_ = json.Unmarshal(source, &doc)
	for kind, clause := range q {
		switch kind {
		case "match_all":
		case "term", "match":
			for field, want := range clause {
				if m, ok := want.(map[string]any); ok {
					want = m["value"]
					if want == nil {
						want = m["query"]
					}
				}
				if fmt.Sprint(doc[field]) != fmt.Sprint(want) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

func (s *Server) getDoc(w http.ResponseWriter, name, id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		notFoundIndex(w, name)
		return
	}
	d := ix.docs[id]
	if d == nil {
		reply(w, 404, map[string]any{"_index": name, "_id": id, "found": false})
		return
	}
	reply(w, 200, map[string]any{"_index": name, "_id": id, "_version": d.version, "_seq_no": d.seqNo, "_primary_term": 1, "found": true, "_source": d.source})
}

func (s *Server) putDoc(w http.ResponseWriter, r *http.Request, name, id, action string) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		reply(w, 400, errorBody("document_parsing_exception", "[1:1] failed to parse"))
		return
	}
	s.mu.Lock()
	res, status := s.write(action, name, id, body)
	s.mu.Unlock()
	replyWrite(w, status, res)
}

// replyWrite answers a single-document write: the item result, or, when
// it failed, the error envelope the document APIs use.
func replyWrite(w http.ResponseWriter, status int, res map[string]any) {
	if e, ok := res["error"].(map[string]any); ok {
		typ, _ := e["type"].(string)
		reason, _ := e["reason"].(string)
		b := errorBody(typ, reason)
		b["status"] = status
		reply(w, status, b)
		return
	}
	reply(w, status, res)
}
