package check

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"
)

// A run holds what the checks learn from each other: the configuration,
// the monitor's identity and the knock ports.
type run struct {
	opts  Options
	cfg   config.Config
	id    *identity // nil if the user does not exist
	ports []served
}

// A served profile's knock port, for the LOG rule check.
type served struct {
	name string
	port uint16
}

func withDefaults(o Options) Options {
	if o.ConfigPath == "" {
		o.ConfigPath = config.DefaultPath
	}
	if o.ProfilesDir == "" {
		o.ProfilesDir = config.DefaultProfilesDir
	}
	if o.User == "" {
		o.User = profile.OwnerUser
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Second
	}
	if o.Command == "" {
		o.Command = "kk-monitor check"
	}
	if o.NetAdmin == nil {
		o.NetAdmin = hasNetAdmin
	}
	return o
}

func newRun(opts Options) *run {
	return &run{opts: opts, cfg: config.Default()}
}

// all runs every check in the order a knock travels.
func (r *run) all(ctx context.Context, emit func(Result)) {
	emit(r.checkConfig())
	emit(r.checkUser())
	for _, res := range r.checkProfiles() {
		emit(res)
	}
	for _, res := range r.checkLogRules() {
		emit(res)
	}
	emit(r.checkNetnsLogging())
	emit(r.checkLogSource())
	emit(r.checkSocket())
	emit(r.checkFirewall(ctx))
}

// checkConfig loads the configuration as kk-monitor does, with the same
// overrides. A bad file leaves the defaults in place for the other checks.
func (r *run) checkConfig() Result {
	cfg, found, unknown, err := config.LoadUnknown(r.opts.ConfigPath)
	if err != nil {
		cfg = config.Default()
	}
	if r.opts.LogFile != "" {
		cfg.LogSource, cfg.LogFile = config.SourceFile, r.opts.LogFile
	}
	if r.opts.Socket != "" {
		cfg.Socket = r.opts.Socket
	}
	r.cfg = cfg
	if err != nil {
		return Result{Status: Fail, What: "config " + r.opts.ConfigPath, Why: err.Error() + " (kk-monitor will not start)",
			Fix: "correct the file; the remaining checks use the defaults"}
	}
	if !found {
		return ok("config %s absent: the defaults apply (log_prefix %q)", r.opts.ConfigPath, cfg.LogPrefix)
	}
	if len(unknown) > 0 {
		return Result{Status: Warn, What: "config " + r.opts.ConfigPath,
			Why: fmt.Sprintf("kk-monitor ignores [main] %s: not a key it knows", strings.Join(unknown, ", ")),
			Fix: "correct the spelling or remove them; man 5 knockknock.conf lists the keys"}
	}
	return ok("config %s loads (log_prefix %q)", r.opts.ConfigPath, cfg.LogPrefix)
}

// checkUser finds the user kk-monitor runs as.
func (r *run) checkUser() Result {
	id, err := lookupIdentity(r.opts.User, r.opts.ExtraGroups)
	var unknown user.UnknownUserError
	if errors.As(err, &unknown) {
		return Result{Status: Fail, What: "user " + r.opts.User, Why: "does not exist, so kk-monitor cannot run as it",
			Fix: fmt.Sprintf("create it: systemd-sysusers (kk's sysusers.d file), or useradd --system --user-group %s", r.opts.User)}
	}
	if err != nil {
		return Result{Status: Fail, What: "user " + r.opts.User, Why: err.Error(),
			Fix: fmt.Sprintf("create it: systemd-sysusers (kk's sysusers.d file), or useradd --system --user-group %s", r.opts.User)}
	}
	r.id = id
	return ok("user %s runs kk-monitor", id)
}

// runningAs reports whether this process has the monitor's uid or is root,
// that is whether what it cannot open the monitor cannot open either.
func (r *run) runningAs() bool {
	uid := os.Geteuid()
	return uid == 0 || r.id != nil && uint32(uid) == r.id.uid
}
