package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/kk-project/kk/pkg/check"
	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"
)

// checkFlags are the flags only kk-monitor check has.
type checkFlags struct {
	user, groups string
	timeout      time.Duration
}

func (f *flags) registerCheck(fs *flag.FlagSet) {
	fs.StringVar(&f.log, "log", "", "kernel log `file` kk-monitor follows (as its --log)")
	fs.StringVar(&f.socket, "socket", "", "kk-firewall's unix socket `path` (as kk-monitor's --socket)")
	fs.StringVar(&f.check.user, "user", profile.OwnerUser, "the `user` kk-monitor runs as")
	fs.StringVar(&f.check.groups, "groups", "adm", "comma-separated `groups` kk-monitor's unit adds (SupplementaryGroups=)")
	fs.DurationVar(&f.check.timeout, "timeout", 5*time.Second, "how long to wait for kk-firewall's answer")
}

// runCheck prints what stands between this server and a working knock. It
// fails, so kk-monitor exits 1, if any check failed.
func runCheck(f flags, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: check takes no arguments", errUsage)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	sum, err := check.Run(ctx, check.Options{
		ConfigPath: f.config, ProfilesDir: f.profiles, LogFile: f.log, Socket: f.socket,
		User: f.check.user, ExtraGroups: splitComma(f.check.groups), Timeout: f.check.timeout,
		Command: checkCommand(f),
	}, os.Stdout)
	if err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if sum.Fail > 0 {
		return fmt.Errorf("%d of %d checks failed", sum.Fail, sum.OK+sum.Warn+sum.Fail)
	}
	return nil
}

// checkCommand is the command line that repeats this check, with the flags
// that differ from the defaults, for the fix texts.
func checkCommand(f flags) string {
	words := []string{"kk-monitor", "check"}
	add := func(name, val, def string) {
		if val != def {
			words = append(words, "--"+name, shellWord(val))
		}
	}
	add("config", f.config, config.DefaultPath)
	add("profiles", f.profiles, config.DefaultProfilesDir)
	add("log", f.log, "")
	add("socket", f.socket, "")
	add("user", f.check.user, profile.OwnerUser)
	add("groups", f.check.groups, "adm")
	return strings.Join(words, " ")
}

// shellWord quotes s for a POSIX shell if it needs it.
func shellWord(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./,:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func splitComma(s string) []string {
	var out []string
	for _, g := range strings.Split(s, ",") {
		if g = strings.TrimSpace(g); g != "" {
			out = append(out, g)
		}
	}
	return out
}
