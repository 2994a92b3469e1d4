package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"
)

// checkLogSource checks that kk-monitor's user can read the kernel log it
// follows. The source is resolved as kk-monitor resolves it, as its user.
func (r *run) checkLogSource() Result {
	source, reason := config.SourceFile, "--log "+r.opts.LogFile
	if r.opts.LogFile == "" {
		r.id.do(func() error {
			source, reason = r.cfg.ResolveLogSource(nil)
			return nil
		})
	}
	if source == config.SourceJournald {
		return r.checkJournal(reason)
	}
	res := r.checkLogFile(r.cfg.LogFile, reason)
	if res.Status == OK && r.cfg.LogFile == sharedKernLog {
		res = Result{Status: Warn, What: res.What, Why: "rsyslog's kern.* file also takes what local users send to /dev/log " +
			`with the kern facility, so "<4>kernel: REJECT ..." from any user reads as a knock`,
			Fix: fmt.Sprintf("install %s (make install ships it), systemctl restart rsyslog, and set log_file = %s in %s",
				config.RsyslogRule, config.DefaultLogFile, r.opts.ConfigPath)}
	}
	return res
}

// sharedKernLog is the kern.* file of Debian's rsyslog configuration, kk's
// log_file before it shipped its own rule.
const sharedKernLog = "/var/log/kern.log"

func (r *run) checkJournal(reason string) Result {
	what := fmt.Sprintf("log source journald (%s)", reason)
	if _, err := exec.LookPath("journalctl"); err != nil {
		return Result{Status: Fail, What: what, Why: "journalctl not found",
			Fix: "install systemd's journalctl, or set log_source = file and install rsyslog"}
	}
	if r.id == nil {
		return Result{Status: Warn, What: what, Why: "not checked: no user " + r.opts.User}
	}
	for _, g := range []string{"adm", "systemd-journal"} {
		if r.id.inGroup(g) {
			return ok("%s: %s may read the kernel journal (group %s)", what, r.id.name, g)
		}
	}
	if r.id.uid == 0 {
		return ok("%s: %s may read the kernel journal", what, r.id.name)
	}
	return Result{Status: Fail, What: what,
		Why: fmt.Sprintf("%s is in neither adm nor systemd-journal, so journalctl -k shows it no kernel messages", r.id.name),
		Fix: fmt.Sprintf("usermod -aG systemd-journal %s, then systemctl restart kk-monitor", r.id.name)}
}

func (r *run) checkLogFile(path, reason string) Result {
	what := fmt.Sprintf("log source file %s (%s)", path, reason)
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Result{Status: Fail, What: what, Why: "does not exist, so no knock can be read",
			Fix: "install rsyslog and kk's rule " + config.RsyslogRule + " (make install ships it), then systemctl restart rsyslog; or set log_source = journald in " + r.opts.ConfigPath}
	case errors.Is(err, fs.ErrPermission) && !r.runningAs():
		return r.notChecked(what)
	case err != nil:
		return Result{Status: Fail, What: what, Why: err.Error()}
	case !fi.Mode().IsRegular():
		return Result{Status: Fail, What: what, Why: "is not a regular file", Fix: "point log_file in " + r.opts.ConfigPath + " at rsyslog's kernel log"}
	case r.id == nil:
		return Result{Status: Warn, What: what, Why: "not checked: no user " + r.opts.User}
	}
	if d, dfi := r.id.blockedDir(path); d != "" {
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("%s cannot reach it: %s is %s", r.id.name, d, describe(dfi)), Fix: "chmod o+x " + d}
	}
	if !r.id.may(fi, permRead) {
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("%s may not read it (%s)", r.id.name, describe(fi)), Fix: r.logFileFix(path, fi)}
	}
	if r.runningAs() {
		err := r.id.do(func() error {
			f, err := os.Open(path)
			if err == nil {
				f.Close()
			}
			return err
		})
		if err != nil {
			return Result{Status: Fail, What: what, Why: fmt.Sprintf("as %s: %v", r.id.name, err), Fix: r.logFileFix(path, fi)}
		}
	}
	return ok("%s: %s may read it (%s)", what, r.id.name, describe(fi))
}

// logFileFix says how to let the monitor read the log file: join the
// file's group if that group may read it, else have rsyslog create it for
// adm.
func (r *run) logFileFix(path string, fi fs.FileInfo) string {
	_, gid := owner(fi)
	if gid != 0 && fi.Mode().Perm()&0o040 != 0 {
		return fmt.Sprintf("usermod -aG %s %s, then systemctl restart kk-monitor (kk-monitor.service adds adm with SupplementaryGroups=)",
			profile.GroupName(gid), r.id.name)
	}
	return fmt.Sprintf("chgrp adm %s && chmod 640 %s, and have rsyslog create it so ($FileGroup adm, $FileCreateMode 0640)", path, path)
}
