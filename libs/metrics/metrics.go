// Package metrics runs the one HTTP server each process has on
// METRICS_ADDR: /metrics for Prometheus, /healthz (the process is alive)
// and /readyz (its dependencies answer). Metric names are
// tributary_<service>_<name>, so dashboards find every service the same way.
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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// Server holds a process's registry and readiness checks.
type Server struct {
	subsystem string
	reg       *prometheus.Registry

	mu     sync.Mutex
	checks map[string]func(context.Context) error
}

// New returns a Server for service (e.g. "s3-loader") with Go runtime and
// process collectors registered.
func New(service string) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &Server{
		subsystem: strings.ReplaceAll(service, "-", "_"),
		reg:       reg,
		checks:    map[string]func(context.Context) error{},
	}
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

// AddCheck adds a dependency check to /readyz (a database ping, a NATS
// connection state). Checks run with a short timeout on every request.
func (s *Server) AddCheck(name string, check func(context.Context) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = check
}

// Ready runs every check and returns the failures by name.
func (s *Server) Ready(ctx context.Context) map[string]error {
	s.mu.Lock()
	checks := make(map[string]func(context.Context) error, len(s.checks))
	for k, v := range s.checks {
		checks[k] = v
	}
	s.mu.Unlock()
	failed := map[string]error{}
	for name, check := range checks {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if err := check(cctx); err != nil {
			failed[name] = err
		}
		cancel()
	}
	return failed
}

// Handler serves /metrics, /healthz and /readyz.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		failed := s.Ready(r.Context())
		if len(failed) == 0 {
			fmt.Fprintln(w, "ready")
			return
		}
		names := make([]string, 0, len(failed))
		for n := range failed {
			names = append(names, n)
		}
		sort.Strings(names)
		w.WriteHeader(http.StatusServiceUnavailable)
		for _, n := range names {
			fmt.Fprintf(w, "%s: %v\n", n, failed[n])
		}
	})
	return mux
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
