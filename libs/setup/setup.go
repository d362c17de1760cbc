// Package setup is the wiring every service's main repeats: signals,
// --help and configuration, the logger, the metrics/health server and, on
// request, a PostgreSQL pool with the service's migrations, a blob store
// and a NATS connection — each registered as a /readyz check and closed in
// reverse order at exit. A main then reads config → setup → domain → runner:
//
//	func main() {
//		var cfg Config
//		setup.Main("s3-loader", summary, &cfg, func(ctx context.Context, env *setup.Env) error {
//			pool, err := env.Postgres(ctx, cfg.Target.Value(), migrations.FS, "s3-loader")
//			…
//			return runner.Run(ctx, env.Runner(), env.Log, pass)
//		})
//	}
package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"reflect"
	"syscall"

	"go.uber.org/zap"

	"tributary.dev/libs/buildinfo"
	"tributary.dev/libs/config"
	"tributary.dev/libs/logging"
)

// Main runs a service: it loads cfg (a pointer to the service's config
// struct, which embeds config.Common) from the environment, or prints
// --help or --version and returns, or refuses an argument it does not
// know (exit status 2, with usage); builds the logger and the metrics server; calls run
// with a context cancelled by SIGINT/SIGTERM; and closes what run opened
// through env. On any error it prints one "name: error" line to stderr
// and exits with status 1.
func Main(name, summary string, cfg any, run func(ctx context.Context, env *Env) error, opts ...Option) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Run(ctx, name, summary, cfg, run, opts...)
	stop()
	if code != 0 {
		os.Exit(code)
	}
}

// Run is Main without the signals and the exit: it returns the exit
// status. Tests of a main's wiring call it in-process.
func Run(ctx context.Context, name, summary string, cfg any, run func(ctx context.Context, env *Env) error, opts ...Option) int {
	o := options{args: os.Args[1:], stdout: os.Stdout, stderr: os.Stderr, serve: true}
	for _, opt := range opts {
		opt(&o)
	}
	if config.HelpRequested(o.args) {
		config.Usage(o.stdout, name, summary, cfg)
		if o.moreHelp != nil {
			o.moreHelp(o.stdout)
		}
		return 0
	}
	if config.VersionRequested(o.args) {
		fmt.Fprintln(o.stdout, buildinfo.String(name))
		return 0
	}
	if !o.verbParsed {
		// Everything left is a mistake: a misspelt verb or flag must stop
		// the process, not start the service as if it had not been said.
		if err := config.NoArguments(o.args); err != nil {
			fmt.Fprintf(o.stderr, "%s: %v\n", name, err)
			fmt.Fprintf(o.stderr, "usage: %s [--help | --version]\n", name)
			if o.moreHelp != nil {
				o.moreHelp(o.stderr)
			}
			fmt.Fprintf(o.stderr, "\n%s --help lists every variable.\n", name)
			return 2
		}
	}
	if err := start(ctx, name, cfg, run, o); err != nil {
		fmt.Fprintf(o.stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}

// Option changes what Main does.
type Option func(*options)

type options struct {
	args           []string
	verbParsed     bool
	stdout, stderr io.Writer
	moreHelp       func(io.Writer)
	serve          bool
	logger         *zap.Logger
}

// Args replaces os.Args[1:] as the command line (a binary with verbs
// passes what follows the verb, or nothing). Besides --help and
// --version, any argument in it is an error with usage (exit status 2).
func Args(args []string) Option { return func(o *options) { o.args = args } }

// VerbArgs is Args for a verb that parsed its own flags and positional
// arguments from args: setup looks in them only for --help and
// --version, and leaves the rest to the verb.
func VerbArgs(args []string) Option {
	return func(o *options) { o.args, o.verbParsed = args, true }
}

// MoreHelp prints more after the variables in --help (a list of verbs).
func MoreHelp(fn func(io.Writer)) Option { return func(o *options) { o.moreHelp = fn } }

// Output sends --help and the error line somewhere else than stdout and
// stderr.
func Output(stdout, stderr io.Writer) Option {
	return func(o *options) { o.stdout, o.stderr = stdout, stderr }
}

// WithoutServer does not start the metrics server: for a one-off
// utility run beside the service, where METRICS_ADDR is already taken.
func WithoutServer() Option { return func(o *options) { o.serve = false } }

// Logger uses log instead of one built from LOG_LEVEL (tests).
func Logger(log *zap.Logger) Option { return func(o *options) { o.logger = log } }

func start(ctx context.Context, name string, cfg any, run func(ctx context.Context, env *Env) error, o options) error {
	if err := config.Load(cfg); err != nil {
		return err
	}
	common, err := commonOf(cfg)
	if err != nil {
		return err
	}
	if err := checkDeadlines(cfg); err != nil {
		return err
	}
	log := o.logger
	if log == nil {
		if log, err = logging.New(common.LogLevel); err != nil {
			return err
		}
	}
	defer func() { _ = log.Sync() }()

	env := newEnv(name, cfg, common, log)
	serverDone := make(chan struct{})
	sctx, stopServer := context.WithCancel(ctx)
	if o.serve {
		go func() {
			defer close(serverDone)
			if err := env.Metrics.Serve(sctx, common.MetricsAddr, log); err != nil {
				// Not fatal: the work goes on, and a probe that cannot
				// connect restarts the pod, which is what should happen.
				log.Error("metrics server", zap.Error(err))
			}
		}()
	} else {
		close(serverDone)
	}
	err = run(ctx, env)
	// Dependencies close before the server stops, so /readyz turns
	// unready while the process drains rather than vanishing first.
	env.close()
	stopServer()
	<-serverDone
	return err
}

// commonOf finds the config.Common embedded in cfg, at any depth.
func commonOf(cfg any) (config.Common, error) {
	v := reflect.ValueOf(cfg)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return config.Common{}, fmt.Errorf("setup: config must be a pointer to a struct, got %T", cfg)
	}
	want := reflect.TypeFor[config.Common]()
	var find func(reflect.Value) (config.Common, bool)
	find = func(s reflect.Value) (config.Common, bool) {
		for i := 0; i < s.NumField(); i++ {
			f, ft := s.Field(i), s.Type().Field(i)
			if !ft.Anonymous || f.Kind() != reflect.Struct {
				continue
			}
			if f.Type() == want {
				return f.Interface().(config.Common), true
			}
			if c, ok := find(f); ok {
				return c, true
			}
		}
		return config.Common{}, false
	}
	c, ok := find(v.Elem())
	if !ok {
		return config.Common{}, errors.New("setup: the config struct does not embed config.Common")
	}
	return c, nil
}
