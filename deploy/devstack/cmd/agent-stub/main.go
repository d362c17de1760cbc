// Command agent-stub serves the in-repo credential-agent stand-in
// (libs/testkit/agentstub) on its own, for docker-compose: the issuer
// controller's POST /issue-credential and GET /readiness, answered as the
// registry-processor expects. `agent-stub probe` asks a running stub's
// /readiness and exits 0 when it is ready: the image has no shell, so
// this is its health check.
//
// It keeps every request it was sent in memory, as tests need it to: it
// is for a local stack, not a long-lived service.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"tributary.dev/libs/buildinfo"
	"tributary.dev/libs/config"
	"tributary.dev/libs/testkit/agentstub"
)

const (
	name    = "agent-stub"
	summary = "the credential agent's stand-in: POST /issue-credential, GET /readiness"
)

// Config is every variable the stub reads.
type Config struct {
	Addr            string        `envconfig:"AGENT_ADDR" default:":8080" desc:"listen address"`
	Latency         time.Duration `envconfig:"AGENT_LATENCY" default:"20ms" desc:"added to every issue-credential request"`
	FailureRate     float64       `envconfig:"AGENT_FAILURE_RATE" default:"0" desc:"share of requests answered 500 (nothing issued)"`
	ItemFailureRate float64       `envconfig:"AGENT_ITEM_FAILURE_RATE" default:"0" desc:"share of credentials answered success:false"`
	Seed            int64         `envconfig:"AGENT_SEED" default:"1" desc:"the same seed fails the same requests"`
}

// Validate keeps the rates to shares.
func (c *Config) Validate() error {
	var errs []error
	for _, r := range []struct {
		name string
		v    float64
	}{{"AGENT_FAILURE_RATE", c.FailureRate}, {"AGENT_ITEM_FAILURE_RATE", c.ItemFailureRate}} {
		if r.v < 0 || r.v > 1 {
			errs = append(errs, fmt.Errorf("%s: want a share in [0, 1], got %g", r.name, r.v))
		}
	}
	return errors.Join(errs...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `
Verbs:
  %[1]s                 serve on AGENT_ADDR until SIGTERM
  %[1]s probe [URL]     exit 0 if the stub at URL (default http://127.0.0.1:8080) is ready
`, name)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cfg Config
	switch {
	case config.HelpRequested(args):
		config.Usage(stdout, name, summary, &cfg)
		usage(stdout)
		return 0
	case config.VersionRequested(args):
		fmt.Fprintln(stdout, buildinfo.String(name))
		return 0
	case len(args) > 0 && args[0] == "probe":
		base := "http://127.0.0.1:8080"
		if len(args) > 1 {
			base = args[1]
		}
		if err := probe(ctx, base); err != nil {
			fmt.Fprintf(stderr, "%s probe: %v\n", name, err)
			return 1
		}
		return 0
	}
	if err := config.NoArguments(args); err != nil {
		fmt.Fprintf(stderr, "%s: %v\nusage: %s [--help | --version]\n", name, err, name)
		usage(stderr)
		return 2
	}
	if err := config.Load(&cfg); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	if err := serve(ctx, cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg Config, log io.Writer) error {
	stub := agentstub.New(agentstub.Options{
		Latency: cfg.Latency, FailureRate: cfg.FailureRate, ItemFailureRate: cfg.ItemFailureRate, Seed: cfg.Seed,
	})
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("AGENT_ADDR %s: %w", cfg.Addr, err)
	}
	srv := &http.Server{Handler: stub.Handler(), ReadHeaderTimeout: 5 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	fmt.Fprintf(log, "%s: %s listening on %s\n", name, buildinfo.Version(), ln.Addr())
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	fmt.Fprintf(log, "%s: stopped after %d issue-credential requests, %d credentials issued\n", name, stub.Requests(), len(stub.Credentials()))
	return nil
}

func probe(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readiness", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s/readiness answered %s", base, resp.Status)
	}
	return nil
}
