package check

import (
	"errors"

	"github.com/kk-project/kk/pkg/kernlog"
)

// checkNetnsLogging checks that only the host's own LOG rules write kernel
// log lines. kk-monitor.service cannot see the setting (PrivateNetwork=yes),
// so this check is where an admin learns it.
func (r *run) checkNetnsLogging() Result {
	const what = "net.netfilter.nf_log_all_netns"
	on, err := kernlog.NetnsLogging(r.opts.ReadSysctl)
	switch {
	case errors.Is(err, kernlog.ErrNetnsLogHidden):
		return Result{Status: Warn, What: what, Why: "not checked: this process runs in a network namespace of its own, where the setting is not visible",
			Fix: "run " + r.opts.Command + " as root in the host's network namespace"}
	case err != nil:
		return Result{Status: Warn, What: what, Why: "not checked: " + err.Error()}
	case on:
		return Result{Status: Warn, What: what + " = 1", Why: kernlog.NetnsLogRisk, Fix: kernlog.NetnsLogFix}
	}
	return ok("%s = 0: LOG rules in other network namespaces cannot write knock lines", what)
}
