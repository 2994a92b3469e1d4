// Package config loads the daemon configuration, /etc/knockknock.d/config.
//
// The file is INI with a [main] section, as the original knockknock writes
// it. The original's keys are delay and error_window; kk adds log_source,
// log_file, log_prefix, socket and state_dir; ResolveLogSource decides what
// log_source = auto, the default, means on this host. Unknown keys are
// ignored so that a file from a newer or older version still loads.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
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
// an error naming path, the key and what is allowed.
func Load(path string) (cfg Config, found bool, err error) {
	cfg = Default()
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return cfg, false, nil
	}
	if err != nil {
		return cfg, false, fmt.Errorf("reading config: %w", err)
	}
	f, err := ini.Parse(path, data)
	if err != nil {
		return cfg, true, err
	}
	err = cfg.apply(path, f)
	return cfg, true, err
}

func (c *Config) apply(path string, f ini.File) error {
	if v, ok := f.Get("main", "delay"); ok {
		n, err := intInRange(path, "delay", v, 1, MaxDelay)
		if err != nil {
			return err
		}
		c.Delay = time.Duration(n) * time.Second
	}
	if v, ok := f.Get("main", "error_window"); ok {
		n, err := intInRange(path, "error_window", v, 1, MaxErrorWindow)
		if err != nil {
			return err
		}
		c.ErrorWindow = n
	}
	if v, ok := f.Get("main", "log_source"); ok {
		if v != SourceAuto && v != SourceFile && v != SourceJournald {
			return fmt.Errorf("%s: [main] log_source = %q: must be %q, %q or %q",
				path, v, SourceAuto, SourceFile, SourceJournald)
		}
		c.LogSource = v
	}
	if v, ok := f.Get("main", "log_file"); ok {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%s: [main] log_file = %q: must be an absolute path", path, v)
		}
		c.LogFile = v
	}
	if v, ok := f.Get("main", "log_prefix"); ok {
		// ConfigParser strips values, so a prefix with a trailing space
		// is written in quotes: log_prefix = "REJECT ".
		v = unquote(v)
		if v == "" {
			return fmt.Errorf("%s: [main] log_prefix is empty: set it to the LOG rule's --log-prefix, such as \"REJECT \"", path)
		}
		c.LogPrefix = v
	}
	if v, ok := f.Get("main", "socket"); ok {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%s: [main] socket = %q: must be an absolute path", path, v)
		}
		c.Socket = v
	}
	if v, ok := f.Get("main", "state_dir"); ok {
		if !strings.HasPrefix(v, "/") {
			return fmt.Errorf("%s: [main] state_dir = %q: must be an absolute path", path, v)
		}
		c.StateDir = v
	}
	return nil
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
