// Package config loads the daemon configuration, /etc/knockknock.d/config.
//
// The file is INI with a [main] section, as the original knockknock writes
// it. The original's keys are delay and error_window; kk adds log_source,
// log_file, log_prefix, socket and state_dir (Keys lists them with their
// defaults and meaning, for the manual); ResolveLogSource decides what
// log_source = auto, the default, means on this host. Unknown keys are
// ignored so that a file from a newer or older version still loads.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"time"

	"github.com/kk-project/kk/pkg/ini"
)

// Default locations.
const (
	DefaultPath        = "/etc/knockknock.d/config"
	DefaultProfilesDir = "/etc/knockknock.d/profiles"
	DefaultLogFile     = "/var/log/knockknock/kern.log" // written by systemd/rsyslog.d/30-knockknock.conf
	DefaultSocket      = "/run/knockknock/firewall.sock"
	DefaultStateDir    = "/var/lib/knockknock"
	DefaultLogPrefix   = "REJECT "
)

// Log sources. SourceAuto is resolved to one of the others by
// ResolveLogSource.
const (
	SourceAuto     = "auto"
	SourceFile     = "file"
	SourceJournald = "journald"
)

// RsyslogdPath is where rsyslog's daemon is installed (Debian, Fedora). Its
// presence is how ResolveLogSource tells that something writes the log file:
// it is readable without privileges, even under ProtectSystem=strict.
const RsyslogdPath = "/usr/sbin/rsyslogd"

// Limits on the numeric settings.
const (
	MaxDelay       = 3600
	MaxErrorWindow = 10000
)

// Config is the daemon's configuration. The zero value is not meaningful;
// start from Default.
type Config struct {
	Delay       time.Duration // how long an opened port stays open
	ErrorWindow int           // how many counters past the current one to try
	LogSource   string        // SourceAuto, SourceFile or SourceJournald
	LogFile     string        // the kernel log file followed when LogSource is SourceFile
	LogPrefix   string        // the LOG rule's --log-prefix that marks candidate lines
	Socket      string        // kk-firewall's unix socket
	StateDir    string        // where kk-monitor keeps its counters, one directory per profile
}

// Default returns the configuration used when no file exists.
func Default() Config {
	return Config{
		Delay:       15 * time.Second,
		ErrorWindow: 20,
		LogSource:   SourceAuto,
		LogFile:     DefaultLogFile,
		LogPrefix:   DefaultLogPrefix,
		Socket:      DefaultSocket,
		StateDir:    DefaultStateDir,
	}
}

// Load reads the configuration at path over the defaults. A missing file is
// not an error: Load returns Default() and found == false. Any bad value is
// an error naming path, the key and what is allowed. Keys not in Keys are
// ignored; LoadUnknown also returns them.
func Load(path string) (cfg Config, found bool, err error) {
	cfg, found, _, err = LoadUnknown(path)
	return cfg, found, err
}

// LoadUnknown is Load, and also returns the [main] keys that are not in
// Keys, sorted: Load ignores them, so a misspelt key would otherwise go
// unnoticed.
func LoadUnknown(path string) (cfg Config, found bool, unknown []string, err error) {
	cfg = Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, false, nil, nil
	}
	if err != nil {
		return cfg, false, nil, fmt.Errorf("reading config: %w", err)
	}
	f, err := ini.Parse(path, data)
	if err != nil {
		return cfg, true, nil, err
	}
	err = cfg.apply(path, f)
	return cfg, true, unknownKeys(f), err
}

func intInRange(path, key, v string, lo, hi int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, fmt.Errorf("%s: [main] %s = %q: must be a whole number from %d to %d", path, key, v, lo, hi)
	}
	return n, nil
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}
