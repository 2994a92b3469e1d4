// Package check answers an admin's question "can this server receive
// knocks?" for kk-monitor check. It looks at what kk-monitor needs, in the
// order a knock travels: the profiles, the LOG rule a knock SYN must reach,
// the log kk-monitor reads, and kk-firewall's socket and service. Each
// finding is one line:
//
//	OK    <what>
//	WARN  <what>: <why>; fix: <what to do>
//	FAIL  <what>: <why>; fix: <what to do>
//
// File access is judged for the user kk-monitor runs as (Options.User), so
// the check gives the same answers run as root or as that user; what only
// root may read (the iptables rules) is reported as not checked when the
// check runs without CAP_NET_ADMIN. No file content and no key is printed.
package check

import (
	"context"
	"fmt"
	"io"
	"time"
)

// A Status grades a Result.
type Status int

// The statuses, from good to bad.
const (
	OK Status = iota
	Warn
	Fail
)

func (s Status) String() string {
	switch s {
	case OK:
		return "OK"
	case Warn:
		return "WARN"
	}
	return "FAIL"
}

// A Result is one finding. Why and Fix are empty for OK.
type Result struct {
	Status Status
	What   string // what was checked, with the detail an OK line shows
	Why    string // what is wrong
	Fix    string // what to do about it
}

// String formats r as one line, without a newline.
func (r Result) String() string {
	s := fmt.Sprintf("%-5s %s", r.Status, r.What)
	if r.Why != "" {
		s += ": " + r.Why
	}
	if r.Fix != "" {
		s += "; fix: " + r.Fix
	}
	return s
}

func ok(what string, args ...any) Result {
	return Result{Status: OK, What: fmt.Sprintf(what, args...)}
}

// Options say what to check. Empty paths mean the defaults in pkg/config.
type Options struct {
	ConfigPath  string // kk-monitor's configuration file
	ProfilesDir string
	LogFile     string // as kk-monitor --log: forces log_source = file
	Socket      string // as kk-monitor --socket: overrides socket
	// User is the user kk-monitor runs as; ExtraGroups are the groups its
	// unit adds (SupplementaryGroups=adm in kk-monitor.service).
	User        string
	ExtraGroups []string
	// Timeout bounds the call to kk-firewall; zero means 5 s.
	Timeout time.Duration
	// Command is the command line that ran the check, repeated in fix
	// texts that say to run it as another user; "" means "kk-monitor check".
	Command string

	// IPTables reads the filter table; nil means the iptables command,
	// through go-iptables. Tests pass a fake.
	IPTables lister
	// NetAdmin reports whether this process may read the rules; nil means
	// it checks its effective capabilities for CAP_NET_ADMIN.
	NetAdmin func() bool
	// ReadSysctl reads a file under /proc/sys; nil means os.ReadFile.
	ReadSysctl func(name string) ([]byte, error)
}

// Summary counts a run's results.
type Summary struct {
	OK, Warn, Fail int
}

// Run checks everything Options name and writes one line per Result to w
// as it goes. The summary's Fail count is what the exit status reports.
func Run(ctx context.Context, opts Options, w io.Writer) (Summary, error) {
	var sum Summary
	var werr error
	emit := func(r Result) {
		switch r.Status {
		case OK:
			sum.OK++
		case Warn:
			sum.Warn++
		default:
			sum.Fail++
		}
		if _, err := fmt.Fprintln(w, r); err != nil && werr == nil {
			werr = err
		}
	}
	newRun(withDefaults(opts)).all(ctx, emit)
	return sum, werr
}
