package config

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

type testSpec struct {
	Common
	Source  Bucket    `envconfig:"SOURCE" required:"true" desc:"where deliveries are read"`
	Target  DSN       `envconfig:"TARGET" required:"true" desc:"the database"`
	NATS    SecretURL `envconfig:"NATS" desc:"NATS server"`
	Batch   int       `envconfig:"BATCH_ROWS" default:"5000" desc:"rows per batch"`
	OnError string    `envconfig:"ON_BAD_FILE" default:"stop" desc:"stop or skip"`
}

func (s *testSpec) Validate() error {
	if s.OnError != "stop" && s.OnError != "skip" {
		return fmt.Errorf("ON_BAD_FILE: want stop or skip, got %q", s.OnError)
	}
	return nil
}

const (
	goodSource = `bucket_endpoint=http://127.0.0.1:9000 bucket_id=AKIA bucket_key='s3cr3t key' bucket_name=orders bucket_path=/dms/prod/`
	goodTarget = `user=loader password=hunter2 host=127.0.0.1 port=5432 dbname=orders`
)

func setenv(t *testing.T, kv map[string]string) {
	for k, v := range kv {
		t.Setenv(k, v)
	}
}

func TestLoadGood(t *testing.T) {
	setenv(t, map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "NATS": "nats://u:natspw@h:4222", "RUN_AS_SERVICE": "false"})
	var s testSpec
	if err := Load(&s); err != nil {
		t.Fatal(err)
	}
	want := Bucket{Endpoint: "http://127.0.0.1:9000", ID: "AKIA", Key: "s3cr3t key", Name: "orders", Path: "dms/prod"}
	if s.Source != want {
		t.Fatalf("Source = %#v, want %#v", s.Source, want)
	}
	if s.Target.Value() != goodTarget || s.NATS.Value() != "nats://u:natspw@h:4222" {
		t.Fatalf("Target/NATS values not kept: %q %q", s.Target.Value(), s.NATS.Value())
	}
	if s.RunAsService || s.MinSleep != 15 || s.MaxSleep != 30 || s.Batch != 5000 || s.HealthWindow != 900 {
		t.Fatalf("defaults/overrides wrong: %+v", s.Common)
	}
	if back, err := ParseBucket(s.Source.Raw()); err != nil || back != s.Source {
		t.Fatalf("Raw does not round-trip: %q -> %#v, %v", s.Source.Raw(), back, err)
	}
	if got := s.Source.Join("dbo", "orders"); got != "dms/prod/dbo/orders" {
		t.Fatalf("Join = %q", got)
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	cases := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TARGET": goodTarget}, "SOURCE"},
		{map[string]string{"SOURCE": goodSource}, "TARGET"},
		{map[string]string{"SOURCE": "bucket_name=x bucket_kye=oops", "TARGET": goodTarget}, `SOURCE: unknown key "bucket_kye"`},
		{map[string]string{"SOURCE": "bucket_name='x", "TARGET": goodTarget}, "SOURCE: value of \"bucket_name\": unterminated quote"},
		{map[string]string{"SOURCE": goodSource, "TARGET": "host=h port=notaport password=hunter2"}, "TARGET: "},
		{map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "MIN_SLEEP": "abc"}, "MIN_SLEEP: "},
		{map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "MIN_SLEEP": "40"}, "MAX_SLEEP: must be at least MIN_SLEEP"},
		{map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "LOG_LEVEL": "loud"}, "LOG_LEVEL: "},
		{map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "HEALTH_WINDOW": "-1"}, "HEALTH_WINDOW: must not be negative"},
		{map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "HEALTH_WINDOW": "15m"}, "HEALTH_WINDOW: "},
		{map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "ON_BAD_FILE": "ignore"}, `ON_BAD_FILE: want stop or skip, got "ignore"`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			setenv(t, c.env)
			var s testSpec
			err := Load(&s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

// TestSecretsNeverPrinted logs a whole config struct through zap and every
// fmt verb and checks no secret appears.
func TestSecretsNeverPrinted(t *testing.T) {
	setenv(t, map[string]string{"SOURCE": goodSource, "TARGET": goodTarget, "NATS": "nats://u:natspw@h:4222"})
	var s testSpec
	if err := Load(&s); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	log.Info("config", zap.Any("cfg", s), zap.Stringer("target", s.Target), zap.Stringer("source", s.Source), zap.Stringer("nats", s.NATS))
	var out bytes.Buffer
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			fmt.Fprintf(&out, "%s=%v\n", k, v)
		}
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		fmt.Fprintf(&out, verb+"\n", s)
		fmt.Fprintf(&out, verb+"\n", s.Target)
		fmt.Fprintf(&out, verb+"\n", s.Source)
		fmt.Fprintf(&out, verb+"\n", s.Source.Key)
		fmt.Fprintf(&out, verb+"\n", s.NATS)
	}
	text := out.String()
	for _, secret := range []string{"hunter2", "s3cr3t", "natspw"} {
		if strings.Contains(text, secret) {
			t.Fatalf("secret %q printed:\n%s", secret, text)
		}
	}
	if !strings.Contains(text, "user=loader password=**** host=127.0.0.1") {
		t.Fatalf("redacted DSN not in the output:\n%s", text)
	}
}

func TestRedactDSN(t *testing.T) {
	for in, want := range map[string]string{
		"user=a password=b host=c":              "user=a password=**** host=c",
		"user=a password='b c\\' d' host=c":     "user=a password=**** host=c",
		"postgres://a:pw@h:5432/db?sslmode=off": "postgres://a:****@h:5432/db?sslmode=off",
		"postgres://a@h/db":                     "postgres://a@h/db",
	} {
		if got := RedactDSN(in); got != want {
			t.Errorf("RedactDSN(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseKV(t *testing.T) {
	// As in libpq, spaces after '=' are skipped, so "d=  e=x\ y" gives d
	// the value "e=x y" (a backslash escapes the space).
	got, err := ParseKV(` a=1  b='two words' c='it\'s' d=  e=x\ y `)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"a": "1", "b": "two words", "c": "it's", "d": "e=x y"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("ParseKV = %#v, want %#v", got, want)
	}
	for _, bad := range []string{"a", "a=1 a=2", "=1", "a='x"} {
		if _, err := ParseKV(bad); err == nil {
			t.Errorf("ParseKV(%q) accepted", bad)
		}
	}
}

func TestUsageListsEveryVariable(t *testing.T) {
	var b bytes.Buffer
	Usage(&b, "s3-loader", "loads deliveries", &testSpec{})
	out := b.String()
	for _, want := range []string{"RUN_AS_SERVICE", "MIN_SLEEP", "MAX_SLEEP", "LOG_LEVEL", "METRICS_ADDR", "HEALTH_WINDOW", "SOURCE", "TARGET", "NATS", "BATCH_ROWS", "5000", "rows per batch", "ON_BAD_FILE", "Bucket", "DSN"} {
		if !strings.Contains(out, want) {
			t.Errorf("usage lacks %q:\n%s", want, out)
		}
	}
}

func TestHelpRequested(t *testing.T) {
	if !HelpRequested([]string{"--help"}) || !HelpRequested([]string{"x", "-h"}) || HelpRequested([]string{"run"}) {
		t.Fatal("HelpRequested wrong")
	}
}

type slowSpec struct {
	Common
}

func (*slowSpec) Defaults() map[string]string {
	return map[string]string{"MIN_SLEEP": "900", "MAX_SLEEP": "960"}
}

// A service's own defaults for Common's variables apply when the variable
// is unset, lose to the environment, and are what --help prints.
func TestServiceDefaults(t *testing.T) {
	t.Setenv("MIN_SLEEP", "")
	os.Unsetenv("MIN_SLEEP")
	t.Setenv("MAX_SLEEP", "")
	os.Unsetenv("MAX_SLEEP")
	var s slowSpec
	if err := Load(&s); err != nil {
		t.Fatal(err)
	}
	if s.MinSleep != 900 || s.MaxSleep != 960 {
		t.Errorf("sleeps %d..%d, want the service's 900..960", s.MinSleep, s.MaxSleep)
	}
	t.Setenv("MIN_SLEEP", "5")
	t.Setenv("MAX_SLEEP", "6")
	s = slowSpec{}
	if err := Load(&s); err != nil {
		t.Fatal(err)
	}
	if s.MinSleep != 5 || s.MaxSleep != 6 {
		t.Errorf("sleeps %d..%d, want the environment's 5..6", s.MinSleep, s.MaxSleep)
	}
	var out bytes.Buffer
	Usage(&out, "svc", "does things", &slowSpec{})
	for _, line := range strings.Split(out.String(), "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && (f[0] == "MIN_SLEEP" && f[2] != "900" || f[0] == "MAX_SLEEP" && f[2] != "960" || f[0] == "LOG_LEVEL" && f[2] != "info") {
			t.Errorf("help line %q", line)
		}
	}
	if !strings.Contains(out.String(), "MIN_SLEEP") {
		t.Errorf("help lacks MIN_SLEEP:\n%s", out.String())
	}
}
