package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestJSONAndLevel(t *testing.T) {
	var b bytes.Buffer
	log, err := NewTo("warn", zapcore.AddSync(&b), false)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", zap.String("key", "orders/LOAD00000001.csv"))
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("got %d lines, want only the warning: %q", len(lines), b.String())
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("not JSON: %v: %s", err, lines[0])
	}
	if rec["msg"] != "shown" || rec["level"] != "warn" || rec["key"] != "orders/LOAD00000001.csv" {
		t.Fatalf("record = %v", rec)
	}
}

func TestConsole(t *testing.T) {
	var b bytes.Buffer
	log, _ := NewTo("debug", zapcore.AddSync(&b), true)
	log.Debug("hello")
	if !strings.Contains(b.String(), "DEBUG") || !strings.Contains(b.String(), "hello") || strings.HasPrefix(b.String(), "{") {
		t.Fatalf("console output = %q", b.String())
	}
}

func TestBadLevelNamesVariable(t *testing.T) {
	if _, err := New("loud"); err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("err = %v", err)
	}
}
