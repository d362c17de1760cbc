// Package config loads a service's settings from the environment, the way
// the services we replace were configured: unprefixed variables such as
// RUN_AS_SERVICE, SOURCE and TARGET. It validates them with errors that name
// the variable, prints every variable for --help, and never prints a secret.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"
)

// Common holds the variables every service has. Embed it in a service's
// config struct; envconfig flattens embedded structs.
type Common struct {
	RunAsService bool   `envconfig:"RUN_AS_SERVICE" default:"true" desc:"true: loop forever, sleeping between passes; false: one pass, then exit (exit code says whether it worked)"`
	MinSleep     int    `envconfig:"MIN_SLEEP" default:"15" desc:"shortest sleep between passes, seconds"`
	MaxSleep     int    `envconfig:"MAX_SLEEP" default:"30" desc:"longest sleep between passes, seconds (each sleep is random in [MIN_SLEEP, MAX_SLEEP])"`
	LogLevel     string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	MetricsAddr  string `envconfig:"METRICS_ADDR" default:":9090" desc:"listen address for /metrics, /healthz and /readyz; empty disables"`
	ShutdownWait int    `envconfig:"SHUTDOWN_GRACE" default:"50" desc:"seconds a unit of work may take to finish after SIGTERM before it is cancelled"`
	HealthWindow int    `envconfig:"HEALTH_WINDOW" default:"900" desc:"seconds without progress of the main loop after which /healthz answers 503, so a stuck process is restarted; must exceed MAX_SLEEP plus the longest unit of work; 0 disables"`
}

// common lets Load find an embedded Common without reflection.
func (c *Common) common() *Common { return c }

type hasCommon interface{ common() *Common }

func (c *Common) validate() error {
	var errs []error
	if c.MinSleep < 0 {
		errs = append(errs, fmt.Errorf("MIN_SLEEP: must not be negative, got %d", c.MinSleep))
	}
	if c.MaxSleep < c.MinSleep {
		errs = append(errs, fmt.Errorf("MAX_SLEEP: must be at least MIN_SLEEP (%d), got %d", c.MinSleep, c.MaxSleep))
	}
	switch strings.ToLower(c.LogLevel) {
	case "debug", "info", "warn", "warning", "error":
	default:
		errs = append(errs, fmt.Errorf("LOG_LEVEL: want debug, info, warn or error, got %q", c.LogLevel))
	}
	if c.ShutdownWait < 0 {
		errs = append(errs, fmt.Errorf("SHUTDOWN_GRACE: must not be negative, got %d", c.ShutdownWait))
	}
	if c.HealthWindow < 0 {
		errs = append(errs, fmt.Errorf("HEALTH_WINDOW: must not be negative (0 disables the check), got %d", c.HealthWindow))
	}
	return errors.Join(errs...)
}

// Defaulter is implemented by a service config whose defaults for some
// variables of Common differ from Common's (a service that runs every 15
// minutes, as the script it replaces did): Defaults maps variable to
// default. Load and Usage both use them.
type Defaulter interface{ Defaults() map[string]string }

// Validator is implemented by service configs that check more than types.
// Its errors should start with the variable's name.
type Validator interface{ Validate() error }

// Load fills spec (a pointer to a struct with envconfig tags) from the
// environment and validates it. Every error names the variable.
func Load(spec any) error {
	if d, ok := spec.(Defaulter); ok {
		for k, v := range d.Defaults() {
			if _, set := os.LookupEnv(k); !set {
				if err := os.Setenv(k, v); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
		}
	}
	if err := envconfig.Process("", spec); err != nil {
		var pe *envconfig.ParseError
		if errors.As(err, &pe) {
			// envconfig's own message repeats the raw value, which may be
			// a secret: keep only the variable and the decoder's reason.
			return fmt.Errorf("%s: %v", pe.KeyName, pe.Err)
		}
		return fmt.Errorf("config: %w", err)
	}
	var errs []error
	if c, ok := spec.(hasCommon); ok {
		errs = append(errs, c.common().validate())
	}
	if v, ok := spec.(Validator); ok {
		errs = append(errs, v.Validate())
	}
	return errors.Join(errs...)
}

// HelpRequested reports whether the command line asks for help.
func HelpRequested(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "help":
			return true
		}
	}
	return false
}

// VersionRequested reports whether the command line asks for the version.
func VersionRequested(args []string) bool {
	for _, a := range args {
		if a == "--version" || a == "-version" {
			return true
		}
	}
	return false
}

// NoArguments fails on the first argument of args: a command that takes
// none says which one it did not understand, a flag or a verb.
func NoArguments(args []string) error {
	switch {
	case len(args) == 0:
		return nil
	case strings.HasPrefix(args[0], "-"):
		return fmt.Errorf("unknown flag %q", args[0])
	default:
		return fmt.Errorf("unknown verb or argument %q", args[0])
	}
}

const usageFormat = `{{range .}}  {{usage_key .}}	{{usage_type .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`

// Usage prints the service's summary and every variable with its type,
// default and meaning.
func Usage(w io.Writer, service, summary string, spec any) {
	fmt.Fprintf(w, "%s — %s\n\nEnvironment variables:\n", service, summary)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tTYPE\tDEFAULT\tMEANING")
	var rows bytes.Buffer
	if err := envconfig.Usagef("", spec, &rows, usageFormat); err != nil {
		fmt.Fprintf(tw, "  (cannot list variables: %v)\n", err)
	}
	var defaults map[string]string
	if d, ok := spec.(Defaulter); ok {
		defaults = d.Defaults()
	}
	for _, line := range strings.SplitAfter(rows.String(), "\n") {
		// A row is "  KEY\tTYPE\tDEFAULT\tMEANING\n".
		if f := strings.SplitN(line, "\t", 4); len(f) == 4 {
			if v, ok := defaults[strings.TrimSpace(f[0])]; ok {
				f[2] = v
				line = strings.Join(f, "\t")
			}
		}
		fmt.Fprint(tw, line)
	}
	tw.Flush()
}
