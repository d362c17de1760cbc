// Package metrics runs the one HTTP server each process has on
// METRICS_ADDR: /metrics for Prometheus, /healthz (the process is alive)
// and /readyz (the process itself is up and working). Metric names are
// tributary_<service>_<name>, so dashboards find every service the same way.
//
// Readiness is the pod's own, never its dependencies': a worker whose
// PostgreSQL, NATS or Elasticsearch is down is still the pod that should
// run, and a readiness that followed them would turn every pod unready
// at once in an outage, blocking node drains (PodDisruptionBudgets count
// unready pods as disrupted) and rollouts. Dependencies are reported by
// /readyz?verbose, by tributary_<service>_dependency_up and by the alerts
// on it.
package metrics

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"tributary.dev/libs/buildinfo"
)

// checkTimeout bounds each dependency check.
const checkTimeout = 3 * time.Second

// Server holds a process's registry and readiness checks.
type Server struct {
	subsystem string
	reg       *prometheus.Registry

	mu     sync.Mutex
	checks map[string]func(context.Context) error
	pages  map[string]http.Handler // a service's own pages (/status)

	// The heartbeat, in Unix nanoseconds: lastBeat is the last Beat (0:
	// never), clockStart when SetStallWindow armed the check, window the
	// allowed silence (0: the check is off).
	lastBeat   atomic.Int64
	clockStart atomic.Int64
	window     atomic.Int64
}

// New returns a Server for service (e.g. "s3-loader") with Go runtime and
// process collectors registered.
func New(service string) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{
		subsystem: strings.ReplaceAll(service, "-", "_"),
		reg:       reg,
		checks:    map[string]func(context.Context) error{},
		pages:     map[string]http.Handler{},
	}
	// Exported so an alert can fire on a stall before Kubernetes acts on
	// /healthz, and so a dashboard shows how far behind a process is.
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tributary", Subsystem: s.subsystem, Name: "last_progress_timestamp_seconds",
		Help: "Unix time of the main loop's last progress (a finished pass, a unit of work, or the loop sleeping between passes); 0 before the first.",
	}, func() float64 {
		return float64(s.lastBeat.Load()) / float64(time.Second)
	}))
	// Which build runs where: one series per process, always 1, named
	// alike for every service so a dashboard variable can list them.
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "tributary", Name: "build_info",
		Help: "Always 1; the labels say which build of which service runs: version and revision as stamped by the build, and the Go release.",
		ConstLabels: prometheus.Labels{
			"service": service, "version": buildinfo.Version(),
			"revision": buildinfo.Revision(), "go_version": buildinfo.GoVersion(),
		},
	}, func() float64 { return 1 }))
	dep := prometheus.GaugeOpts{
		Namespace: "tributary", Subsystem: s.subsystem, Name: "dependency_up",
		Help: "1 when the dependency's check passed at this scrape, 0 when it failed (the reason is on /readyz?verbose).",
	}
	reg.MustRegister(&dependencyCollector{s: s, desc: prometheus.NewDesc(
		prometheus.BuildFQName(dep.Namespace, dep.Subsystem, dep.Name), dep.Help, []string{"dependency"}, nil)})
	return s
}

// dependencyCollector runs the readiness checks at each scrape, so the
// dependencies' health is a metric (and an alert) rather than the pod's
// readiness.
type dependencyCollector struct {
	s    *Server
	desc *prometheus.Desc
}

func (c *dependencyCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *dependencyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range c.s.checkAll(context.Background()) {
		up := 0.0
		if r.err == nil {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, up, r.name)
	}
}

// Beat records that the main loop made progress now. Call it after each
// unit of work (and the runner calls it between passes); /healthz fails
// once no Beat has come for longer than the stall window.
func (s *Server) Beat() {
	s.lastBeat.Store(time.Now().UnixNano())
}

// SetStallWindow arms the liveness check: /healthz answers 503 once the
// main loop has gone longer than d without a Beat, so Kubernetes restarts
// a process that is stuck (a hung call, a deadlock) rather than leaving it
// up and idle. The clock starts now, so a process that never beats turns
// unhealthy too. d <= 0 disables the check.
func (s *Server) SetStallWindow(d time.Duration) {
	if d < 0 {
		d = 0
	}
	s.clockStart.CompareAndSwap(0, time.Now().UnixNano())
	s.window.Store(int64(d))
}

// stalled says how long the loop has been silent and whether that is
// longer than the window.
func (s *Server) stalled(now time.Time) (silent, window time.Duration, bad bool) {
	window = time.Duration(s.window.Load())
	if window <= 0 {
		return 0, 0, false
	}
	last := max(s.lastBeat.Load(), s.clockStart.Load())
	silent = now.Sub(time.Unix(0, last))
	return silent, window, silent > window
}

// Registry is the registry behind /metrics.
func (s *Server) Registry() *prometheus.Registry { return s.reg }

// FullName is the name a metric is exported under.
func (s *Server) FullName(name string) string {
	return prometheus.BuildFQName("tributary", s.subsystem, name)
}

// Counter registers tributary_<service>_<name>.
func (s *Server) Counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "tributary", Subsystem: s.subsystem, Name: name, Help: help}, labels)
	s.reg.MustRegister(c)
	return c
}

// Gauge registers tributary_<service>_<name>.
func (s *Server) Gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "tributary", Subsystem: s.subsystem, Name: name, Help: help}, labels)
	s.reg.MustRegister(g)
	return g
}

// Histogram registers tributary_<service>_<name>; nil buckets means the
// Prometheus defaults.
func (s *Server) Histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "tributary", Subsystem: s.subsystem, Name: name, Help: help, Buckets: buckets}, labels)
	s.reg.MustRegister(h)
	return h
}

// AddCheck adds a dependency check (a database ping, a NATS connection
// state). Checks run, each with a short timeout, on every scrape
// (tributary_<service>_dependency_up{dependency=name}) and on every
// /readyz?verbose; they never make the process unready.
func (s *Server) AddCheck(name string, check func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

type checkResult struct {
	name string
	err  error
}

// checkAll runs every check at once, each within checkTimeout, and
// returns the results sorted by name.
func (s *Server) checkAll(ctx context.Context) []checkResult {
	s.mu.Lock()
	names := make([]string, 0, len(s.checks))
	for k := range s.checks {
		names = append(names, k)
	}
	sort.Strings(names)
	checks := make([]func(context.Context) error, len(names))
	for i, n := range names {
		checks[i] = s.checks[n]
	}
	s.mu.Unlock()
	out := make([]checkResult, len(names))
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			defer cancel()
			out[i] = checkResult{names[i], checks[i](cctx)}
		}()
	}
	wg.Wait()
	return out
}

// Ready runs every dependency check and returns the failures by name.
func (s *Server) Ready(ctx context.Context) map[string]error {
	failed := map[string]error{}
	for _, r := range s.checkAll(ctx) {
		if r.err != nil {
			failed[r.name] = r.err
		}
	}
	return failed
}

// Handle adds a page of the service's own at path (the registry-processor's
// /status), served beside /metrics; it may be called after Serve started.
func (s *Server) Handle(path string, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages[path] = h
}

// Handler serves /metrics, /healthz, /readyz and the pages added with Handle.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		h := s.pages[r.URL.Path]
		s.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		if silent, window, bad := s.stalled(time.Now()); bad {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "stalled: no progress of the main loop for %s (window %s)\n", silent.Round(time.Millisecond), window)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		_, verbose := r.URL.Query()["verbose"]
		state, ok := s.selfReady(time.Now())
		var deps []checkResult
		depsOK := true
		if verbose {
			deps = s.checkAll(r.Context())
			for _, d := range deps {
				depsOK = depsOK && d.err == nil
			}
		}
		// Plain /readyz (the probe) is the process alone. ?verbose adds
		// each dependency and answers 503 when any fails, so that
		// `curl -f …/readyz?verbose` tells an operator or a script.
		if !ok || !depsOK {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		fmt.Fprintln(w, state)
		for _, d := range deps {
			if d.err != nil {
				fmt.Fprintf(w, "[-] %s: %v\n", d.name, d.err)
			} else {
				fmt.Fprintf(w, "[+] %s: ok\n", d.name)
			}
		}
	})
	return mux
}

// selfReady is the process's own readiness: its main loop has run once
// (the server starts before the service has built its metrics, pages and
// connections) and has not stalled.
func (s *Server) selfReady(now time.Time) (string, bool) {
	if s.lastBeat.Load() == 0 {
		return "starting: the main loop has not run yet", false
	}
	if silent, window, bad := s.stalled(now); bad {
		return fmt.Sprintf("stalled: no progress of the main loop for %s (window %s)", silent.Round(time.Millisecond), window), false
	}
	return "ready", true
}

// Serve listens on addr until ctx is done. An empty addr serves nothing
// and returns when ctx is done, so METRICS_ADDR="" turns the server off.
func (s *Server) Serve(ctx context.Context, addr string, log *zap.Logger) error {
	if addr == "" {
		<-ctx.Done()
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("METRICS_ADDR %s: %w", addr, err)
	}
	return s.serveOn(ctx, ln, log)
}

func (s *Server) serveOn(ctx context.Context, ln net.Listener, log *zap.Logger) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Info("metrics server listening", zap.String("addr", ln.Addr().String()))
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics server: %w", err)
	}
	return nil
}
