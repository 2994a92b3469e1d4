package main

import (
	"errors"
	"log/slog"

	"github.com/kk-project/kk/pkg/kernlog"
)

// warnNetnsLogging warns at start when net.netfilter.nf_log_all_netns is 1,
// since any local user may then have the kernel log a forged knock. Under
// kk-monitor.service (PrivateNetwork=yes) the sysctl is not visible, and it
// says so and where to look instead. read is as for kernlog.NetnsLogging.
func warnNetnsLogging(log *slog.Logger, read func(string) ([]byte, error)) {
	on, err := kernlog.NetnsLogging(read)
	switch {
	case errors.Is(err, kernlog.ErrNetnsLogHidden):
		log.Info("net.netfilter.nf_log_all_netns is not visible from this private network namespace; " +
			"kk-monitor check, run as root outside it, says whether other namespaces may write knock lines")
	case err != nil:
		log.Warn("cannot tell whether other network namespaces may write knock lines", "err", err)
	case on:
		log.Warn("net.netfilter.nf_log_all_netns = 1: "+kernlog.NetnsLogRisk, "fix", kernlog.NetnsLogFix)
	}
}
