package kernlog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// NetnsLogPath is the sysctl net.netfilter.nf_log_all_netns. At 1, LOG
// rules in every network namespace write to the kernel log, and since an
// unprivileged user may create a user namespace with a network namespace of
// its own, any local user can then have the kernel log a SYN with a forged
// source address and the knock prefix. Labs need it; a server does not.
const NetnsLogPath = "/proc/sys/net/netfilter/nf_log_all_netns"

// ErrNetnsLogHidden means NetnsLogPath does not exist here: the kernel shows
// it only in the initial network namespace, and kk-monitor.service runs in a
// private one (PrivateNetwork=yes).
var ErrNetnsLogHidden = errors.New(NetnsLogPath + " is not visible: it exists only in the initial network namespace")

// NetnsLogging reports whether net.netfilter.nf_log_all_netns is 1. read
// reads the file; nil means os.ReadFile. When the file does not exist the
// error wraps ErrNetnsLogHidden.
func NetnsLogging(read func(string) ([]byte, error)) (bool, error) {
	if read == nil {
		read = os.ReadFile
	}
	b, err := read(NetnsLogPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, ErrNetnsLogHidden
	case err != nil:
		return false, fmt.Errorf("reading %s: %w", NetnsLogPath, err)
	}
	switch v := strings.TrimSpace(string(b)); v {
	case "0":
		return false, nil
	case "1":
		return true, nil
	default:
		return false, fmt.Errorf("%s holds %.8q, want 0 or 1", NetnsLogPath, v)
	}
}

// NetnsLogRisk says what nf_log_all_netns = 1 means for kk, for a log line
// or a check result that first names the setting.
const NetnsLogRisk = "LOG rules in every network namespace write to the kernel log, " +
	"so a local user who may create a user namespace (unshare -Urn) can have the kernel log a knock with any source address " +
	"on an interface it names itself; kk refuses knocks that arrived on lo, not on a forged veth"

// NetnsLogFix is what to do about it outside a lab.
const NetnsLogFix = "sysctl -w net.netfilter.nf_log_all_netns=0, and remove the setting from /etc/sysctl.d; " +
	"only a lab with LOG rules in namespaces needs 1"
