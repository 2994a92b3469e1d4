package config

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/kk-project/kk/pkg/ini"
)

// A Key is one setting of the configuration file's [main] section. Keys is
// both what Load applies and what knockknock.conf(5) lists, so the manual
// cannot name a key the parser ignores or miss one it reads.
type Key struct {
	Name    string
	Default string // as written in the file
	Doc     string // one paragraph for the manual
	set     func(c *Config, path, v string) error
}

// Keys lists every key Load reads, in the order the manual shows them. The
// original knockknock's are delay and error_window.
var Keys = []Key{
	{Name: "delay", Default: "15",
		Doc: fmt.Sprintf("Seconds an opened port admits one new connection, 1 to %d. "+
			"The original knockknock's key, with its meaning.", MaxDelay),
		set: func(c *Config, path, v string) error {
			n, err := intInRange(path, "delay", v, 1, MaxDelay)
			if err != nil {
				return err
			}
			c.Delay = time.Duration(n) * time.Second
			return nil
		}},
	{Name: "error_window", Default: "20",
		Doc: fmt.Sprintf("How many counters past the last accepted one a knock may use, 1 to %d: "+
			"knocks the server never saw (lost, or sent to another server) move the client's counter ahead. "+
			"The original knockknock's key.", MaxErrorWindow),
		set: func(c *Config, path, v string) error {
			n, err := intInRange(path, "error_window", v, 1, MaxErrorWindow)
			if err != nil {
				return err
			}
			c.ErrorWindow = n
			return nil
		}},
	{Name: "log_source", Default: SourceAuto,
		Doc: fmt.Sprintf("Where kk-monitor reads the kernel log: %s follows log_file; %s follows kernel messages "+
			"through journalctl -k; %s is %s if log_file exists and rsyslog is installed (%s), else %s "+
			"(a stock Debian 12 has no rsyslog). kk-monitor logs which one it follows and why at start and on "+
			"each reload, and kk-monitor status prints it.",
			SourceFile, SourceJournald, SourceAuto, SourceFile, RsyslogdPath, SourceJournald),
		set: func(c *Config, path, v string) error {
			if v != SourceAuto && v != SourceFile && v != SourceJournald {
				return fmt.Errorf("%s: [main] log_source = %q: must be %q, %q or %q",
					path, v, SourceAuto, SourceFile, SourceJournald)
			}
			c.LogSource = v
			return nil
		}},
	{Name: "log_file", Default: DefaultLogFile,
		Doc: "The kernel log file, an absolute path. The default is written by kk's rsyslog rule " +
			RsyslogRule + " from the kernel's own messages only; not /var/log/kern.log, " +
			"to which any local user can add a forged knock line through /dev/log.",
		set: func(c *Config, path, v string) error {
			if !strings.HasPrefix(v, "/") {
				return fmt.Errorf("%s: [main] log_file = %q: must be an absolute path", path, v)
			}
			c.LogFile = v
			return nil
		}},
	{Name: "log_prefix", Default: `"` + DefaultLogPrefix + `"`,
		Doc: "The --log-prefix of the LOG rules that log knock packets (knockknock-firewall.sh -l). " +
			"Quote it to keep a trailing space.",
		set: func(c *Config, path, v string) error {
			// ConfigParser strips values, so a prefix with a trailing
			// space is written in quotes: log_prefix = "REJECT ".
			v = unquote(v)
			if v == "" {
				return fmt.Errorf("%s: [main] log_prefix is empty: set it to the LOG rule's --log-prefix, such as \"REJECT \"", path)
			}
			c.LogPrefix = v
			return nil
		}},
	{Name: "socket", Default: DefaultSocket,
		Doc: "kk-firewall's unix socket, an absolute path (kk-firewall.socket listens there).",
		set: func(c *Config, path, v string) error {
			if !strings.HasPrefix(v, "/") {
				return fmt.Errorf("%s: [main] socket = %q: must be an absolute path", path, v)
			}
			c.Socket = v
			return nil
		}},
	{Name: "state_dir", Default: DefaultStateDir,
		Doc: "Where kk-monitor keeps its counters, one directory per profile (<state_dir>/<name>/counter), " +
			"an absolute path. kk-monitor.service's StateDirectory= creates the default.",
		set: func(c *Config, path, v string) error {
			if !strings.HasPrefix(v, "/") {
				return fmt.Errorf("%s: [main] state_dir = %q: must be an absolute path", path, v)
			}
			c.StateDir = v
			return nil
		}},
}

// apply sets c from f's [main] keys, in Keys order.
func (c *Config) apply(path string, f ini.File) error {
	for _, k := range Keys {
		if v, ok := f.Get("main", k.Name); ok {
			if err := k.set(c, path, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// unknownKeys returns f's [main] keys that are not in Keys, sorted. Load
// ignores them, so that a file from another version loads; a misspelt key
// is silently ignored too, which is why kk-monitor status lists them.
func unknownKeys(f ini.File) []string {
	var out []string
	for name := range f["main"] {
		if !isKey(name) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func isKey(name string) bool {
	for _, k := range Keys {
		if k.Name == name {
			return true
		}
	}
	return false
}
