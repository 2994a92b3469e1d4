package check

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kk-project/kk/pkg/profile"
)

// checkProfiles loads the profiles with the loader kk-monitor uses and
// checks their files' owners and modes. Each profile gets one line.
func (r *run) checkProfiles() []Result {
	dir := r.opts.ProfilesDir
	var out []Result
	res, ok := r.checkProfilesDir(dir)
	if res.What != "" {
		out = append(out, res)
	}
	if !ok {
		return out
	}
	var entries []os.DirEntry
	var loaded []*profile.Profile
	err := r.id.do(func() (err error) {
		loaded, _ = profile.LoadAll(dir, r.cfg.StateDir)
		entries, err = os.ReadDir(dir)
		return err
	})
	if err != nil {
		return []Result{{Status: Fail, What: "profiles " + dir, Why: err.Error()}}
	}
	byName := map[string]*profile.Profile{}
	for _, p := range loaded {
		byName[p.Name] = p
		r.ports = append(r.ports, served{p.Name, p.KnockPort})
	}
	found := false
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		out = append(out, r.checkProfile(filepath.Join(dir, e.Name()), byName[e.Name()]))
		found = true
	}
	if !found {
		out = append(out, Result{Status: Fail, What: "profiles " + dir, Why: "no profile, so no knock is accepted",
			Fix: "kk-monitor genprofile <knockPort> <profileName>"})
	}
	return out
}

// checkProfilesDir checks that the monitor can list dir and that nobody
// else can add a profile to it. res is the zero Result if all is well; ok is
// false if the profiles cannot be checked at all.
func (r *run) checkProfilesDir(dir string) (res Result, ok bool) {
	what := "profiles " + dir
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Result{Status: Fail, What: what, Why: "does not exist", Fix: "kk-monitor genprofile <knockPort> <profileName>"}, false
	case errors.Is(err, fs.ErrPermission) && !r.runningAs():
		return r.notChecked(what), false
	case err != nil:
		return Result{Status: Fail, What: what, Why: err.Error()}, false
	case fi.Mode().Perm()&0o022 != 0:
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("writable by group or others (%s): they could add a profile with keys they know", describe(fi)),
			Fix: "chmod go-w " + dir}, true
	}
	if r.id != nil {
		if !r.id.may(fi, permRead|permExec) {
			return Result{Status: Fail, What: what, Why: fmt.Sprintf("%s cannot list it (%s)", r.id.name, describe(fi)),
				Fix: fmt.Sprintf("chown root:%s %s && chmod 750 %s", r.group(), dir, dir)}, false
		}
		if d, dfi := r.id.blockedDir(dir); d != "" {
			return Result{Status: Fail, What: what, Why: fmt.Sprintf("%s cannot reach it: %s is %s", r.id.name, d, describe(dfi)),
				Fix: "chmod o+x " + d}, false
		}
	}
	return Result{}, true
}

// notChecked is the result for something this process may not look at.
func (r *run) notChecked(what string) Result {
	return Result{Status: Warn, What: what, Why: fmt.Sprintf("not checked: uid %d may not read it", os.Geteuid()),
		Fix: fmt.Sprintf("run sudo %s (or as %s)", r.opts.Command, r.opts.User)}
}

// checkProfile reports on the profile in dir; p is its loaded form if
// kk-monitor serves it.
func (r *run) checkProfile(dir string, p *profile.Profile) Result {
	name := filepath.Base(dir)
	what := "profile " + name
	if p == nil {
		return r.profileNotServed(dir)
	}
	if problems := r.profileModes(dir); len(problems) > 0 {
		return Result{Status: Fail, What: fmt.Sprintf("%s (knock port %d)", what, p.KnockPort),
			Why: strings.Join(problems, ", "), Fix: r.profileFix(dir)}
	}
	return ok("%s: knock port %d, files read-only to %s, keys not readable by others", what, p.KnockPort, r.opts.User)
}

// profileFix is the command that gives a profile the owner and modes
// kk-monitor genprofile gives it: root's, readable by the monitor's group.
func (r *run) profileFix(dir string) string {
	return fmt.Sprintf("chown -R root:%s %s && chmod 750 %s && chmod 640 %s/*", r.group(), dir, dir, dir)
}

// group is the group that should read the profiles: the monitor's
// primary group.
func (r *run) group() string {
	if r.id == nil {
		return r.opts.User
	}
	return r.id.primaryGroup()
}

// profileNotServed says why kk-monitor leaves the profile in dir out:
// which file fails to load, or which profiles share its knock port.
func (r *run) profileNotServed(dir string) Result {
	what := "profile " + filepath.Base(dir)
	var port uint16
	err := r.id.do(func() error {
		_, err := profile.LoadServer(dir, r.cfg.StateDir)
		if err == nil {
			port, _ = profile.ReadKnockPort(dir)
		}
		return err
	})
	if err == nil {
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("knock port %d is shared with another profile, so kk-monitor serves none of them", port),
			Fix: "give each profile its own knock_port in its config file, then systemctl reload kk-monitor"}
	}
	file := profileFileIn(dir, err)
	switch {
	case errors.Is(err, fs.ErrPermission):
		if !r.runningAs() {
			return r.notChecked(what)
		}
		why := fmt.Sprintf("%s cannot read %s", r.opts.User, file)
		if fi, err := os.Stat(file); err == nil {
			why += " (" + describe(fi) + ")"
		}
		return Result{Status: Fail, What: what, Why: why, Fix: r.profileFix(dir)}
	case errors.Is(err, fs.ErrNotExist):
		return Result{Status: Fail, What: what, Why: file + " is missing", Fix: restoreFix(file)}
	case errors.Is(err, profile.ErrUnsafe):
		return Result{Status: Fail, What: what, Why: "refused by kk-monitor: " + err.Error(), Fix: r.profileFix(dir)}
	case errors.Is(err, profile.ErrCorrupt):
		return Result{Status: Fail, What: what, Why: file + " is damaged (kk-monitor cannot parse it)", Fix: restoreFix(file)}
	}
	return Result{Status: Fail, What: what, Why: "cannot be loaded: " + file}
}

// profileFileIn returns the profile file err names; profile.Load's errors
// name the file at fault. Only the name is used: the error may quote the
// file's content.
func profileFileIn(dir string, err error) string {
	msg := err.Error()
	for _, f := range profile.Files {
		if path := filepath.Join(dir, f); strings.Contains(msg, path) {
			return path
		}
	}
	return dir
}

// restoreFix says how to get a missing or damaged profile file back.
func restoreFix(path string) string {
	switch filepath.Base(path) {
	case profile.CounterFile:
		return "restore " + path + " from a backup or the client's copy; never reset it to 0"
	case profile.ConfigFile:
		return fmt.Sprintf("write %q and %q into %s", "[main]", "knock_port = <port>", path)
	}
	return "copy " + path + " back from the client's copy of the profile, or make a new profile with kk-monitor genprofile"
}

// profileModes lists what is wrong with the owners and modes of the
// profile in dir: kk-monitor must read every file, and nobody else may read
// a key or change any file. kk-monitor writes only its state directory.
func (r *run) profileModes(dir string) []string {
	var problems []string
	if fi, err := os.Stat(dir); err == nil {
		if r.id != nil && !r.id.may(fi, permRead|permExec) {
			problems = append(problems, fmt.Sprintf("%s cannot read the directory (%s)", r.opts.User, describe(fi)))
		}
		if fi.Mode().Perm()&0o022 != 0 {
			problems = append(problems, fmt.Sprintf("the directory is writable by group or others (%s)", describe(fi)))
		}
	}
	files := append([]string(nil), profile.Files...)
	sort.Strings(files)
	for _, f := range files {
		problems = append(problems, r.fileModes(filepath.Join(dir, f))...)
	}
	return problems
}

func (r *run) fileModes(path string) []string {
	base := filepath.Base(path)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil // Load reported it
	}
	if !fi.Mode().IsRegular() {
		return []string{base + " is not a regular file"}
	}
	var problems []string
	mode := fi.Mode().Perm()
	secret := base == profile.CipherKeyFile || base == profile.MACKeyFile
	switch {
	case secret && mode&0o007 != 0:
		problems = append(problems, fmt.Sprintf("%s is readable by others (%s)", base, describe(fi)))
	case mode&0o022 != 0:
		problems = append(problems, fmt.Sprintf("%s is writable by group or others (%s)", base, describe(fi)))
	}
	if r.id != nil && !r.id.may(fi, permRead) {
		problems = append(problems, fmt.Sprintf("%s cannot read %s (%s)", r.opts.User, base, describe(fi)))
	}
	return problems
}
