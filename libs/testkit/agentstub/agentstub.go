// Package agentstub is an HTTP stand-in for the issuer controller (the
// BC Registries controller in front of ACA-Py) the registry-processor
// posts to. POST /issue-credential takes a JSON array of {schema, version,
// attributes} and answers HTTP 200 with an array of {success, result} in
// the same order, result being the credential exchange's thread id;
// GET /readiness answers 200 when ready and 503 when not. It records every
// request it was sent, so a test can count duplicates, and it can be slowed
// down (per request, or per credential as the real controller, which
// issues a request's credentials one after another), stalled, made to
// drop the connection after issuing, made to fail (whole requests or
// single credentials, reproducibly) or made to answer with the wrong
// length or shape.
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
	Latency     time.Duration // added to every request
	FailureRate float64       // share of requests answered FailureStatus (nothing issued)
	// FailureStatus is the status of a failed request: 500 when zero. The
	// real controller answers 503 before it reads the body when it is not
	// connected to its agent.
	FailureStatus   int
	ItemFailureRate float64 // share of credentials answered success:false
	// StallRate is the share of requests that are processed (their
	// credentials issued) but answered only after StallFor: a caller whose
	// timeout is shorter never learns the outcome, as with a controller
	// that issued and then hung.
	StallRate float64
	StallFor  time.Duration // how long a stalled answer waits; 2 s when zero
	// PerCredential is how long issuing one credential takes: the
	// controller issues a request's credentials one at a time and waits
	// for each, so a request of n takes n times this. The credentials are
	// issued even when the caller hangs up before the answer, as the real
	// controller does.
	PerCredential time.Duration
	// DropRate is the share of requests whose credentials are issued and
	// whose connection is then closed without an answer.
	DropRate float64
	Seed     int64 // fixes the failure pattern: same seed, same requests, same answers
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

// Request is the record of one POST /issue-credential.
type Request struct {
	Seq         int          // arrival order, from 1
	Status      int          // HTTP status answered
	Stalled     bool         // the answer was held back by StallFor
	Dropped     bool         // the connection was closed after issuing, without an answer
	Answered    bool         // false when the caller hung up before the answer was written
	Misanswered Misanswer    // the broken answer sent instead of Results, if any
	Credentials []Credential // as posted
	Results     []Result     // what the stub meant to answer (200 only)
}

// Misanswer is a kind of broken answer, for tests of the caller's checks.
type Misanswer int

// The broken answers Misanswer can inject. None of them issues anything.
const (
	AnswerShort   Misanswer = iota + 1 // one result fewer than credentials
	AnswerLong                         // one result more
	AnswerObject                       // a JSON object, not an array
	AnswerGarbage                      // not JSON at all
	AnswerBadItem                      // an array of the right length whose items are numbers
)

// Stub is the stand-in controller.
type Stub struct {
	URL string // set by Start or testkit.Agent

	opts Options
	mu   sync.Mutex
	rng  *rand.Rand
	seq  int
	reqs int
	got  []Credential
	log  []Request

	notReady   bool
	probes     int
	misanswers []Misanswer // queued broken answers, first is next
}

// New returns a stub with opts.
func New(opts Options) *Stub {
	return &Stub{opts: withDefaults(opts), rng: rand.New(rand.NewPCG(uint64(opts.Seed), uint64(opts.Seed)^0x9e3779b97f4a7c15))}
}

func withDefaults(opts Options) Options {
	if opts.StallRate > 0 && opts.StallFor <= 0 {
		opts.StallFor = 2 * time.Second
	}
	if opts.FailureStatus == 0 {
		opts.FailureStatus = http.StatusInternalServerError
	}
	return opts
}

// SetOptions changes the behaviour for the requests that arrive from now
// on (a controller that was slow and is fast again); the seed's sequence
// goes on.
func (s *Stub) SetOptions(opts Options) {
	s.mu.Lock()
	s.opts = withDefaults(opts)
	s.mu.Unlock()
}

// Issued is how many times each credential was issued, keyed by its schema
// and attributes without reason_description (what the event processor
// hashes), so a test can see a credential issued twice.
func (s *Stub) Issued() map[string]int {
	out := map[string]int{}
	for _, c := range s.Credentials() {
		out[c.Key()]++
	}
	return out
}

// Key names a credential by its schema and attributes, reason_description
// left out: the same key is the same credential.
func (c Credential) Key() string {
	attrs := make(map[string]any, len(c.Attributes))
	for k, v := range c.Attributes {
		if k != "reason_description" {
			attrs[k] = v
		}
	}
	b, _ := json.Marshal(attrs) // sorted keys: the same text for the same attributes
	return c.Schema + " " + string(b)
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

// Credentials returns every credential issued so far (successes only, a
// stalled request's included), in issue order.
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

// Log returns the record of every issue-credential request, in arrival
// order.
func (s *Stub) Log() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// SetReady sets what GET /readiness answers: 200 when true, 503 when false.
// A new stub is ready.
func (s *Stub) SetReady(ready bool) {
	s.mu.Lock()
	s.notReady = !ready
	s.mu.Unlock()
}

// Probes is how many readiness requests arrived.
func (s *Stub) Probes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probes
}

// Misanswer makes the next n issue-credential requests that would have been
// answered 200 get the broken answer kind instead.
func (s *Stub) Misanswer(kind Misanswer, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.misanswers = append(s.misanswers, kind)
	}
}

// threadID is a UUID-shaped id, unique per issued credential, as the
// controller answers with the exchange's thread id.
func threadID(seq int) string {
	return fmt.Sprintf("%08x-0000-4000-8000-%012x", uint32(seq>>16), seq)
}

// Handler serves POST /issue-credential, GET /readiness and GET /status.
func (s *Stub) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintln(w, `{"ready":true}`)
	})
	mux.HandleFunc("GET /readiness", func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		s.probes++
		ready := !s.notReady
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ready {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, `{"ready":false}`)
			return
		}
		fmt.Fprintln(w, `{"ready":true}`)
	})
	mux.HandleFunc("POST /issue-credential", s.issue)
	return mux
}

func (s *Stub) issue(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	opts := s.opts
	s.mu.Unlock()
	if opts.Latency > 0 {
		// A caller that gives up (timeout, shutdown) should not keep
		// the stub busy, as a real agent would notice the closed socket.
		select {
		case <-time.After(opts.Latency):
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
	s.reqs++
	rec := Request{Seq: s.reqs, Status: http.StatusOK, Credentials: creds}
	if opts.FailureRate > 0 && s.rng.Float64() < opts.FailureRate {
		rec.Status, rec.Answered = opts.FailureStatus, true
		s.log = append(s.log, rec)
		s.mu.Unlock()
		http.Error(w, "injected failure", opts.FailureStatus)
		return
	}
	if len(s.misanswers) > 0 {
		rec.Misanswered, s.misanswers = s.misanswers[0], s.misanswers[1:]
		rec.Answered = true
		s.log = append(s.log, rec)
		s.mu.Unlock()
		writeMisanswer(w, rec.Misanswered, len(creds))
		return
	}
	rec.Stalled = opts.StallRate > 0 && s.rng.Float64() < opts.StallRate
	rec.Dropped = opts.DropRate > 0 && s.rng.Float64() < opts.DropRate
	rec.Results = make([]Result, len(creds))
	idx := len(s.log)
	s.log = append(s.log, rec)
	s.mu.Unlock()

	// One credential after another, each recorded as it is issued.
	for i, c := range creds {
		if opts.PerCredential > 0 {
			time.Sleep(opts.PerCredential)
		}
		s.mu.Lock()
		switch {
		case c.Schema == "" || c.Version == "":
			s.log[idx].Results[i] = Result{Success: false, Result: "schema and version are required"}
		case opts.ItemFailureRate > 0 && s.rng.Float64() < opts.ItemFailureRate:
			s.log[idx].Results[i] = Result{Success: false, Result: threadID(0) + "::injected credential failure"}
		default:
			s.seq++
			s.got = append(s.got, c)
			s.log[idx].Results[i] = Result{Success: true, Result: threadID(s.seq)}
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	results := append([]Result(nil), s.log[idx].Results...)
	s.mu.Unlock()

	if rec.Dropped {
		hangUp(w)
		return
	}
	answered := r.Context().Err() == nil
	if answered && rec.Stalled {
		select {
		case <-time.After(opts.StallFor):
		case <-r.Context().Done():
			answered = false
		}
	}
	if answered {
		w.Header().Set("Content-Type", "application/json")
		answered = json.NewEncoder(w).Encode(results) == nil && r.Context().Err() == nil
	}
	s.mu.Lock()
	s.log[idx].Answered = answered
	s.mu.Unlock()
}

// hangUp closes the connection without writing a response.
func hangUp(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	// No hijacking (HTTP/2): abort the handler, which resets the stream.
	panic(http.ErrAbortHandler)
}

func writeMisanswer(w http.ResponseWriter, kind Misanswer, n int) {
	w.Header().Set("Content-Type", "application/json")
	ok := func(k int) []Result {
		out := make([]Result, max(k, 0))
		for i := range out {
			out[i] = Result{Success: true, Result: threadID(1 << 30)}
		}
		return out
	}
	switch kind {
	case AnswerShort:
		_ = json.NewEncoder(w).Encode(ok(n - 1))
	case AnswerLong:
		_ = json.NewEncoder(w).Encode(ok(n + 1))
	case AnswerObject:
		fmt.Fprintln(w, `{"success":true,"result":"not an array"}`)
	case AnswerGarbage:
		fmt.Fprintln(w, `<html>Bad Gateway</html>`)
	default:
		items := make([]int, n)
		_ = json.NewEncoder(w).Encode(items)
	}
}
