package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ResolveLogSource returns where the kernel log is read, SourceFile or
// SourceJournald, and why, as a phrase for a log line such as
// "auto: /var/log/knockknock/kern.log does not exist".
//
// An explicit log_source is returned as it is, with the reason
// "log_source = file" or "log_source = journald". For SourceAuto it is the
// file if LogFile exists and rsyslog is installed, and the journal
// otherwise: a stock Debian 12 has no rsyslog, and a kern.log that a removed
// rsyslog left behind no longer grows. The default LogFile exists once
// rsyslog runs kk's rule (systemd/rsyslog.d/30-knockknock.conf), which
// writes only what came from the kernel.
//
// stat looks paths up; nil means os.Stat. Only stat is used, so no
// privileges are needed. The answer holds for the moment of the call:
// kk-monitor resolves at start and on each reload.
func (c Config) ResolveLogSource(stat func(name string) (fs.FileInfo, error)) (source, reason string) {
	if c.LogSource != SourceAuto {
		return c.LogSource, "log_source = " + c.LogSource
	}
	if stat == nil {
		stat = os.Stat
	}
	_, err := stat(c.LogFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return SourceJournald, fmt.Sprintf("auto: %s does not exist%s", c.LogFile, c.writerHint())
	case err != nil:
		return SourceJournald, fmt.Sprintf("auto: %v", err) // os.Stat names the file
	case !RsyslogInstalled(stat):
		return SourceJournald, fmt.Sprintf("auto: %s exists but rsyslogd is not installed (no %s), so nothing writes to it",
			c.LogFile, RsyslogdPath)
	}
	return SourceFile, fmt.Sprintf("auto: %s exists and rsyslogd is installed", c.LogFile)
}

// RsyslogInstalled reports whether RsyslogdPath is a regular file. stat
// looks it up; nil means os.Stat.
func RsyslogInstalled(stat func(name string) (fs.FileInfo, error)) bool {
	if stat == nil {
		stat = os.Stat
	}
	fi, err := stat(RsyslogdPath)
	return err == nil && fi.Mode().IsRegular()
}

// RsyslogRule is where make install puts the rsyslog rule that writes
// DefaultLogFile from the kernel's messages only.
const RsyslogRule = "/etc/rsyslog.d/30-knockknock.conf"

// writerHint names what writes the default log file, for a reason that
// says it is missing.
func (c Config) writerHint() string {
	if c.LogFile != DefaultLogFile {
		return ""
	}
	return " (rsyslog writes it with kk's rule " + RsyslogRule + ")"
}

// Overrides are kk-monitor's command-line settings that win over the file:
// --log, --socket and --state. Empty fields leave the file's value.
type Overrides struct {
	LogFile  string // forces log_source = file
	Socket   string
	StateDir string
}

// Effective applies o to c and resolves log_source, as kk-monitor does at
// start and on each reload and as kk-monitor status reports it. The
// returned Config's LogSource is SourceFile or SourceJournald, never
// SourceAuto; reason says why, as ResolveLogSource does, or "--log FILE".
// stat is as for ResolveLogSource.
func (c Config) Effective(o Overrides, stat func(name string) (fs.FileInfo, error)) (eff Config, reason string) {
	if o.LogFile != "" {
		c.LogFile = o.LogFile
		c.LogSource, reason = SourceFile, "--log "+o.LogFile
	} else {
		c.LogSource, reason = c.ResolveLogSource(stat)
	}
	if o.Socket != "" {
		c.Socket = o.Socket
	}
	if o.StateDir != "" {
		c.StateDir = o.StateDir
	}
	return c, reason
}
