// Package logging builds the zap logger every service uses: JSON lines in
// production (what the cluster's log shipper expects), a readable console
// format when a person is watching a terminal.
package logging

import (
	"fmt"
	"os"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// New returns a logger at level (debug, info, warn, error) writing to
// stderr, JSON unless stderr is a terminal.
func New(level string) (*zap.Logger, error) {
	return NewTo(level, os.Stderr, isTerminal(os.Stderr))
}

// NewTo is New with the destination and format chosen by the caller.
func NewTo(level string, w zapcore.WriteSyncer, console bool) (*zap.Logger, error) {
	var lvl zapcore.Level
	if err := lvl.UnmarshalText([]byte(strings.ToLower(level))); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	var enc zapcore.Encoder
	if console {
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(cfg)
	} else {
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	}
	return zap.New(zapcore.NewCore(enc, zapcore.Lock(w), lvl), zap.AddCaller()), nil
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
