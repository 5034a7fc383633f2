package cniplugin

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
)

// LogConf holds the optional logging keys every podnet plugin accepts at the
// top level of its network config.
type LogConf struct {
	// LogFile is a path that log lines are appended to; created 0600.
	// Empty means no log file: only returned errors reach stderr.
	LogFile string `json:"logFile,omitempty"`
	// LogLevel is one of error, warn, info, debug. Default warn.
	LogLevel string `json:"logLevel,omitempty"`
}

// parseLevel maps a logLevel value to a slog level.
func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	case "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	}
	return 0, ConfigErrorf("logLevel %q: want one of error, warn, info, debug", s)
}

// openLog builds the logger for one plugin invocation from the raw network
// config. It never fails the invocation: a bad logFile or logLevel is reported
// on stderr and logging falls back to nothing. The returned closer is never nil.
func openLog(lc LogConf, attrs []any, stderr io.Writer) (*slog.Logger, io.Closer) {
	level, err := parseLevel(lc.LogLevel)
	if err != nil {
		fmt.Fprintf(stderr, "podnet: %v; using warn\n", err)
	}
	if lc.LogFile == "" {
		return slog.New(slog.DiscardHandler), io.NopCloser(nil)
	}
	f, err := os.OpenFile(lc.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		fmt.Fprintf(stderr, "podnet: open logFile %q: %v; logging disabled\n", lc.LogFile, err)
		return slog.New(slog.DiscardHandler), io.NopCloser(nil)
	}
	h := slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})
	return slog.New(h).With(attrs...), f
}
