// Package esstub is an in-process stand-in for Elasticsearch 8, faithful to
// the parts Tributary uses — index create/exists/delete, _bulk with
// per-item results, _count, _doc get/put, _refresh — so record-parser tests
// run the real go-elasticsearch client against it. The same contract test
// runs against a real cluster when ELASTICSEARCH_URL is set.
package esstub

import (
	"bufio"
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
	mu      sync.Mutex
	indices map[string]*index
}

type index struct {
	docs map[string]*doc
}

type doc struct {
	source  json.RawMessage
	version int64
	seqNo   int64
}

// New returns an empty stand-in.
func New() *Server { return &Server{indices: map[string]*index{}} }

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
		switch {
		case len(parts) == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
			reply(w, 200, map[string]any{"name": "esstub", "cluster_name": "tributary", "version": map[string]any{"number": "8.19.7", "build_flavor": "default"}, "tagline": "You Know, for Search"})
		case len(parts) == 1 && parts[0] == "_bulk" && r.Method == http.MethodPost:
			s.bulk(w, r, "")
		case len(parts) == 1 && r.Method == http.MethodPut:
			s.createIndex(w, parts[0])
		case len(parts) == 1 && r.Method == http.MethodHead:
			s.mu.Lock()
			_, ok := s.indices[parts[0]]
			s.mu.Unlock()
			if !ok {
				w.WriteHeader(404)
			}
		case len(parts) == 1 && r.Method == http.MethodDelete:
			s.mu.Lock()
			_, ok := s.indices[parts[0]]
			delete(s.indices, parts[0])
			s.mu.Unlock()
			if !ok {
				notFoundIndex(w, parts[0])
				return
			}
			reply(w, 200, map[string]any{"acknowledged": true})
		case len(parts) == 2 && parts[1] == "_bulk" && r.Method == http.MethodPost:
			s.bulk(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "_refresh":
			reply(w, 200, map[string]any{"_shards": map[string]int{"total": 1, "successful": 1, "failed": 0}})
		case len(parts) == 2 && parts[1] == "_count":
			s.count(w, r, parts[0])
		case len(parts) == 2 && parts[1] == "_doc" && r.Method == http.MethodPost:
			s.putDoc(w, r, parts[0], newID())
		case len(parts) == 3 && parts[1] == "_doc" && r.Method == http.MethodGet:
			s.getDoc(w, parts[0], parts[2])
		case len(parts) == 3 && parts[1] == "_doc" && (r.Method == http.MethodPut || r.Method == http.MethodPost):
			s.putDoc(w, r, parts[0], parts[2])
		default:
			reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("no handler for %s %s in the stand-in", r.Method, r.URL.Path)))
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

func (s *Server) createIndex(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.indices[name]; ok {
		reply(w, 400, errorBody("resource_already_exists_exception", "index ["+name+"] already exists"))
		return
	}
	s.indices[name] = &index{docs: map[string]*doc{}}
	reply(w, 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name})
}

// ix returns an index, creating it as Elasticsearch does on first write.
// Callers hold s.mu.
func (s *Server) ix(name string) *index {
	ix := s.indices[name]
	if ix == nil {
		ix = &index{docs: map[string]*doc{}}
		s.indices[name] = ix
	}
	return ix
}

var seq int64

// write applies one document operation and returns the item result.
// Callers hold s.mu.
func (s *Server) write(action, name, id string, source json.RawMessage) (map[string]any, int) {
	ix := s.ix(name)
	cur := ix.docs[id]
	res := map[string]any{"_index": name, "_id": id}
	switch action {
	case "create":
		if cur != nil {
			res["status"] = 409
			res["error"] = map[string]any{"type": "version_conflict_engine_exception",
				"reason": fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", id, cur.version), "index": name}
			return res, 409
		}
		fallthrough
	case "index":
		seq++
		d := &doc{source: source, version: 1, seqNo: seq}
		res["result"], res["status"] = "created", 201
		if cur != nil {
			d.version = cur.version + 1
			res["result"], res["status"] = "updated", 200
		}
		ix.docs[id] = d
		res["_version"], res["_seq_no"], res["_primary_term"] = d.version, d.seqNo, 1
	case "update":
		if cur == nil {
			res["status"] = 404
			res["error"] = map[string]any{"type": "document_missing_exception", "reason": fmt.Sprintf("[%s]: document missing", id), "index": name}
			return res, 404
		}
		var body struct {
			Doc json.RawMessage `json:"doc"`
		}
		if err := json.Unmarshal(source, &body); err != nil || body.Doc == nil {
			res["status"] = 400
			res["error"] = map[string]any{"type": "illegal_argument_exception", "reason": "update needs a doc"}
			return res, 400
		}
		merged := map[string]json.RawMessage{}
		_ = json.Unmarshal(cur.source, &merged)
		patch := map[string]json.RawMessage{}
		_ = json.Unmarshal(body.Doc, &patch)
		for k, v := range patch {
			merged[k] = v
		}
		src, _ := json.Marshal(merged)
		seq++
		ix.docs[id] = &doc{source: src, version: cur.version + 1, seqNo: seq}
		res["result"], res["status"], res["_version"] = "updated", 200, cur.version+1
	case "delete":
		if cur == nil {
			res["result"], res["status"] = "not_found", 404
			return res, 404
		}
		delete(ix.docs, id)
		res["result"], res["status"], res["_version"] = "deleted", 200, cur.version+1
	}
	res["_shards"] = map[string]int{"total": 1, "successful": 1, "failed": 0}
	return res, res["status"].(int)
}

// bulk reads NDJSON action/source pairs and answers per item, as the
// real API does: one failing item does not fail the request.
func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defaultIndex string) {
	start := time.Now()
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(make([]byte, 1<<20), 100<<20)
	var items []any
	errorsSeen := false
	s.mu.Lock()
	defer s.mu.Unlock()
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var action map[string]struct {
			Index string `json:"_index"`
			ID    string `json:"_id"`
		}
		if err := json.Unmarshal(text, &action); err != nil || len(action) != 1 {
			reply(w, 400, errorBody("x_content_parse_exception", fmt.Sprintf("[%d:1] malformed action/metadata line", line)))
			return
		}
		for verb, meta := range action {
			name := meta.Index
			if name == "" {
				name = defaultIndex
			}
			if name == "" {
				reply(w, 400, errorBody("action_request_validation_exception", "Validation Failed: 1: index is missing;"))
				return
			}
			var source json.RawMessage
			switch verb {
			case "index", "create", "update":
				if !sc.Scan() {
					reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("the bulk request must be terminated by a newline [%d]", line)))
					return
				}
				line++
				source = append(json.RawMessage(nil), bytes.TrimSpace(sc.Bytes())...)
				if !json.Valid(source) {
					reply(w, 400, errorBody("x_content_parse_exception", fmt.Sprintf("[%d:1] malformed document", line)))
					return
				}
			case "delete":
			default:
				reply(w, 400, errorBody("illegal_argument_exception", fmt.Sprintf("Malformed action/metadata line [%d], expected one of [create, delete, index, update] but found [%s]", line, verb)))
				return
			}
			id := meta.ID
			if id == "" {
				if verb != "index" && verb != "create" {
					reply(w, 400, errorBody("action_request_validation_exception", "Validation Failed: 1: id is missing;"))
					return
				}
				id = newID()
			}
			res, status := s.write(verb, name, id, source)
			if status >= 300 && !(verb == "delete" && status == 404) {
				errorsSeen = true
			}
			items = append(items, map[string]any{verb: res})
		}
	}
	if err := sc.Err(); err != nil {
		reply(w, 400, errorBody("parse_exception", err.Error()))
		return
	}
	reply(w, 200, map[string]any{"took": time.Since(start).Milliseconds(), "errors": errorsSeen, "items": items})
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

func (s *Server) putDoc(w http.ResponseWriter, r *http.Request, name, id string) {
	body, err := io.ReadAll(r.Body)
	if err != nil || !json.Valid(body) {
		reply(w, 400, errorBody("mapper_parsing_exception", "failed to parse"))
		return
	}
	action := "index"
	if r.URL.Query().Get("op_type") == "create" {
		action = "create"
	}
	s.mu.Lock()
	res, status := s.write(action, name, id, body)
	s.mu.Unlock()
	reply(w, status, res)
}
