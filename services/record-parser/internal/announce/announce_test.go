package announce

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"tributary.dev/libs/natsbus"
	"tributary.dev/libs/testkit"
)

func config() Config {
	return Config{Stream: "PARSED", MaxAge: time.Hour, MaxBytes: 1 << 20, Dedup: time.Minute, Timeout: 30 * time.Second}
}

// Limits the server would refuse are refused first, naming the variable.
func TestValidate(t *testing.T) {
	if err := config().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		mod  func(*Config)
		want string
	}{
		"no name":               {func(c *Config) { c.Stream = "" }, "PARSED_STREAM"},
		"no bytes":              {func(c *Config) { c.MaxBytes = 0 }, "PARSED_MAX_BYTES"},
		"dedup longer than age": {func(c *Config) { c.Dedup = 2 * time.Hour }, "PARSED_DEDUP_WINDOW"},
	} {
		c := config()
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %s", name, err, tc.want)
		}
	}
}

// The stream is made with the limits given; an event is stored once and
// its repeat (same id) is acknowledged as a duplicate, not stored; an
// event the stream refuses is an error.
func TestAnnounce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bus, err := natsbus.Connect(ctx, testkit.NATS(t), "announce-test", zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	a, err := New(ctx, bus, config())
	if err != nil {
		t.Fatal(err)
	}
	s, err := bus.JS.Stream(ctx, "PARSED")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := info.Config; c.MaxAge != time.Hour || c.MaxBytes != 1<<20 || c.Duplicates != time.Minute || c.Subjects[0] != "hedera.records.parsed.>" {
		t.Errorf("stream config %+v", c)
	}
	for i, want := range []bool{false, true} {
		dup, err := a.Announce(ctx, "hedera.records.parsed.3", "testnet/2024-01-01/x.rcd.gz", []byte(`{"v":1}`))
		if err != nil || dup != want {
			t.Fatalf("announce %d: duplicate %v, %v; want %v", i, dup, err, want)
		}
	}
	bytes, msgs, limit, err := a.Usage(ctx)
	if err != nil || msgs != 1 || bytes == 0 || limit != 1<<20 {
		t.Errorf("usage: %d bytes, %d messages, limit %d, %v; want one message, limit 1 MiB", bytes, msgs, limit, err)
	}
	if _, err := a.Announce(ctx, "hedera.records.elsewhere.3", "x", []byte(`{}`)); err == nil {
		t.Error("a subject no stream keeps: no error")
	}
}
