// Package agentstub is an HTTP stand-in for the credential agent (VON-X /
// ACA-Py) the registry-processor posts to: POST /issue-credential takes a
// JSON array of {schema, version, attributes} and answers an array of
// {success, result}. It records what it accepted and can be slowed down or
// made to fail, whole requests or single credentials, reproducibly.
package agentstub

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"
)

// Options shape the stub's behaviour.
type Options struct {
	Latency         time.Duration // added to every request
	FailureRate     float64       // share of requests answered 500
	ItemFailureRate float64       // share of credentials answered success:false
	Seed            int64         // fixes the failure pattern: same seed, same requests, same answers
}

// Credential is one credential as posted.
type Credential struct {
	Schema     string         `json:"schema"`
	Version    string         `json:"version"`
	Attributes map[string]any `json:"attributes"`
}

// Result is one item of the answer.
type Result struct {
	Success bool   `json:"success"`
	Result  string `json:"result"`
}

// Stub is the stand-in agent.
type Stub struct {
	URL string // set by Start or testkit.Agent

	opts Options
	mu   sync.Mutex
	rng  *rand.Rand
	seq  int
	reqs int
	got  []Credential
}

// New returns a stub with opts.
func New(opts Options) *Stub {
	return &Stub{opts: opts, rng: rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15))}
}

// Start serves on addr and returns the URL and a stop function.
func (s *Stub) Start(addr string) (string, func(), error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("credential agent stub: %w", err)
	}
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	s.URL = "http://" + ln.Addr().String()
	return s.URL, func() { _ = srv.Close() }, nil
}

// Credentials returns every credential accepted so far.
func (s *Stub) Credentials() []Credential {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Credential(nil), s.got...)
}

// Requests is how many issue-credential requests arrived.
func (s *Stub) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqs
}

// Handler serves POST /issue-credential and GET /status.
func (s *Stub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"ready":true}`)
	})
	mux.HandleFunc("POST /issue-credential", func(w http.ResponseWriter, r *http.Request) {
		if s.opts.Latency > 0 {
			// A caller that gives up (timeout, shutdown) should not keep
			// the stub busy, as a real agent would notice the closed socket.
			select {
			case <-time.After(s.opts.Latency):
			case <-r.Context().Done():
				return
			}
		}
		var creds []Credential
		if err := json.NewDecoder(r.Body).Decode(&creds); err != nil {
			http.Error(w, "want a JSON array of {schema, version, attributes}: "+err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.reqs++
		if s.opts.FailureRate > 0 && s.rng.Float64() < s.opts.FailureRate {
			http.Error(w, "injected failure", http.StatusInternalServerError)
			return
		}
		results := make([]Result, len(creds))
		for i, c := range creds {
			if c.Schema == "" || c.Version == "" {
				results[i] = Result{Success: false, Result: "schema and version are required"}
				continue
			}
			if s.opts.ItemFailureRate > 0 && s.rng.Float64() < s.opts.ItemFailureRate {
				results[i] = Result{Success: false, Result: "injected credential failure"}
				continue
			}
			s.seq++
			s.got = append(s.got, c)
			results[i] = Result{Success: true, Result: fmt.Sprintf("cred-%06d", s.seq)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(results)
	})
	return mux
}
