package check

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/profile"
)

// StatusOptions say what kk-monitor status reports on. Empty paths mean
// the defaults in pkg/config; StateDir overrides state_dir, as kk-monitor's
// --state does.
type StatusOptions struct {
	ConfigPath  string
	ProfilesDir string
	StateDir    string
	// Stat resolves log_source = auto; nil means os.Stat.
	Stat func(name string) (fs.FileInfo, error)
}

// A Report is what kk-monitor would serve with these options: the
// configuration, the log source it follows and each profile. It holds no
// key material: a profile's keys are loaded to check them and dropped.
type Report struct {
	Config      ConfigStatus `json:"config"`
	LogSource   string       `json:"log_source"`        // config.SourceFile or config.SourceJournald
	LogFile     string       `json:"log_file"`          // followed when LogSource is file
	LogReason   string       `json:"log_source_reason"` // why that source, as kk-monitor logs it
	Socket      string       `json:"socket"`
	StateDir    string       `json:"state_dir"`
	ProfilesDir string       `json:"profiles_dir"`
	// ProfilesError is set when the profiles directory cannot be listed or
	// holds no profile; ProfilesFix says what to do.
	ProfilesError string          `json:"profiles_error,omitempty"`
	ProfilesFix   string          `json:"profiles_fix,omitempty"`
	Profiles      []ProfileStatus `json:"profiles"`
}

// ConfigStatus says whether the configuration file loads.
type ConfigStatus struct {
	Path  string `json:"path"`
	Found bool   `json:"found"`
	// Error is why kk-monitor would refuse the file; the report then shows
	// the defaults.
	Error string `json:"error,omitempty"`
	// UnknownKeys are [main] keys kk-monitor ignores: a misspelling, or a
	// key of another version.
	UnknownKeys []string `json:"unknown_keys,omitempty"`
}

// Where a profile's counter is read from.
const (
	// CounterState is kk-monitor's own counter, <state_dir>/<name>/counter.
	CounterState = "state"
	// CounterProfile is the profile's counter file, which kk-monitor takes
	// over (copies into its state counter) at its next start or reload.
	CounterProfile = "profile"
)

// ProfileStatus is one profile. A broken one has Error, and Fix if there is
// one to suggest, and whatever was read before the error was found.
type ProfileStatus struct {
	Name      string `json:"name"`
	Dir       string `json:"dir"`
	KnockPort uint16 `json:"knock_port,omitempty"`
	Version   int    `json:"version,omitempty"` // 1 or 2
	// Counter is the next counter a knock may use; nil if unread.
	Counter       *uint64 `json:"counter,omitempty"`
	CounterFile   string  `json:"counter_file,omitempty"`
	CounterSource string  `json:"counter_source,omitempty"` // CounterState or CounterProfile
	// AllowedPorts are the only ports the profile may open; nil (null in
	// JSON) means any.
	AllowedPorts []uint16 `json:"allowed_ports"`
	Error        string   `json:"error,omitempty"`
	Fix          string   `json:"fix,omitempty"`
	// NotRead means Error is only that this process may not read the
	// profile: it runs as neither root nor kk-monitor's user, so whether
	// kk-monitor can serve the profile is unknown.
	NotRead bool `json:"not_read,omitempty"`
}

// Broken reports whether anything keeps kk-monitor from serving every
// profile listed, or may: a bad configuration, an unreadable profiles
// directory, no profile at all, a profile it would skip, or one this process
// could not read.
func (r *Report) Broken() bool {
	if r.Config.Error != "" || r.ProfilesError != "" {
		return true
	}
	for _, p := range r.Profiles {
		if p.Error != "" {
			return true
		}
	}
	return false
}

// StatusReport loads the configuration and the profiles as kk-monitor does and
// reports them. It changes nothing: a counter kk-monitor has not taken over
// yet is only read.
func StatusReport(opts StatusOptions) *Report {
	if opts.ConfigPath == "" {
		opts.ConfigPath = config.DefaultPath
	}
	if opts.ProfilesDir == "" {
		opts.ProfilesDir = config.DefaultProfilesDir
	}
	r := &Report{Config: ConfigStatus{Path: opts.ConfigPath}, ProfilesDir: opts.ProfilesDir}
	cfg, found, unknown, err := config.LoadUnknown(opts.ConfigPath)
	r.Config.Found, r.Config.UnknownKeys = found, unknown
	if err != nil {
		r.Config.Error = err.Error()
		cfg = config.Default()
	}
	cfg, r.LogReason = cfg.Effective(config.Overrides{StateDir: opts.StateDir}, opts.Stat)
	r.LogSource, r.LogFile, r.Socket, r.StateDir = cfg.LogSource, cfg.LogFile, cfg.Socket, cfg.StateDir

	entries, err := os.ReadDir(opts.ProfilesDir)
	if err != nil {
		r.ProfilesError = fmt.Sprintf("listing the profiles: %v", err)
		if errors.Is(err, fs.ErrNotExist) {
			r.ProfilesFix = genprofileFix
		}
		return r
	}
	id := stateOwner(cfg.StateDir)
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") { // as profile.LoadAll
			continue
		}
		dir := filepath.Join(opts.ProfilesDir, e.Name())
		var s ProfileStatus
		if err := id.do(func() error { s = profileStatus(dir, cfg.StateDir); return nil }); err != nil {
			s = ProfileStatus{Name: e.Name(), Dir: dir, Error: err.Error()}
		}
		r.Profiles = append(r.Profiles, s)
	}
	if len(r.Profiles) == 0 {
		r.ProfilesError, r.ProfilesFix = "no profile, so no knock is accepted", genprofileFix
	}
	markShared(r.Profiles)
	return r
}

const genprofileFix = "kk-monitor genprofile <knockPort> <profileName>"

// stateOwner is the user who owns the state directory when status runs as
// root: kk-monitor's user, whose StateDirectory= it is. Status then reads the
// profiles as that user, as kk-monitor does: its state counters are that
// user's files, which the profile checks accept only from root or the reader
// itself, so root would call every profile kk-monitor has counted in broken.
// Nil (read as this process) when not root, or when the directory is
// missing, not a directory, root's, or its owner has no account.
func stateOwner(stateDir string) *identity {
	if os.Geteuid() != 0 {
		return nil
	}
	fi, err := os.Lstat(stateDir)
	if err != nil || !fi.IsDir() {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || st.Uid == 0 {
		return nil
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(st.Uid), 10))
	if err != nil {
		return nil
	}
	id, err := lookupIdentity(u.Username, nil)
	if err != nil {
		return nil
	}
	return id
}

// profileStatus loads the profile in dir as kk-monitor does.
func profileStatus(dir, stateDir string) ProfileStatus {
	s := ProfileStatus{Name: filepath.Base(dir), Dir: dir}
	p, err := profile.LoadServer(dir, stateDir)
	if err != nil {
		s.Error = err.Error()
		s.Fix = statusFix(dir, stateDir, err)
		s.NotRead = errors.Is(err, fs.ErrPermission) && !mayReadProfiles()
		// The port says which profile it is, when the config is readable.
		s.KnockPort, _ = profile.ReadKnockPort(dir)
		return s
	}
	s.KnockPort, s.Version, s.AllowedPorts = p.KnockPort, p.Version, p.AllowedPorts
	c, err := p.Counter()
	if err != nil {
		s.Error, s.Fix = err.Error(), statusFix(dir, stateDir, err)
		return s
	}
	s.Counter = &c
	// Counter reads the state counter if it exists and the profile's own
	// otherwise, as kk-monitor does until it takes the profile over.
	s.CounterFile, s.CounterSource = filepath.Join(stateDir, s.Name, profile.CounterFile), CounterState
	if _, err := os.Lstat(s.CounterFile); errors.Is(err, fs.ErrNotExist) {
		s.CounterFile, s.CounterSource = filepath.Join(dir, profile.CounterFile), CounterProfile
	}
	return s
}

// markShared marks the profiles that share a knock port as broken:
// kk-monitor serves none of them, since a knock could not be told apart.
func markShared(ps []ProfileStatus) {
	byPort := map[uint16][]int{}
	for i, p := range ps {
		if p.Error == "" {
			byPort[p.KnockPort] = append(byPort[p.KnockPort], i)
		}
	}
	for port, idx := range byPort {
		if len(idx) < 2 {
			continue
		}
		var names []string
		for _, i := range idx {
			names = append(names, ps[i].Name)
		}
		sort.Strings(names)
		for _, i := range idx {
			ps[i].Error = fmt.Sprintf("profiles %s share knock port %d, so kk-monitor serves none of them",
				strings.Join(names, ", "), port)
			ps[i].Fix = fmt.Sprintf("give each its own knock_port in its %s file (%s), then systemctl reload kk-monitor",
				profile.ConfigFile, filepath.Join(ps[i].Dir, profile.ConfigFile))
		}
	}
}

// statusFix says what to do about a profile that failed to load with err.
func statusFix(dir, stateDir string, err error) string {
	file := profileFileIn(dir, err)
	if state := filepath.Join(stateDir, filepath.Base(dir), profile.CounterFile); strings.Contains(err.Error(), state) {
		file = state
	}
	switch {
	case errors.Is(err, fs.ErrPermission):
		if !mayReadProfiles() {
			return fmt.Sprintf("run kk-monitor status as root or as %s, who may read the profiles", profile.OwnerUser)
		}
		return ownerFix(dir)
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, profile.ErrCorrupt):
		return restoreFix(file)
	case errors.Is(err, profile.ErrUnsafe):
		return ownerFix(dir)
	}
	return ""
}

// mayReadProfiles reports whether this process should be able to read
// every profile: it is root or kk-monitor's user, so a refusal is the
// profile's fault, not the caller's.
func mayReadProfiles() bool {
	uid := os.Geteuid()
	if uid == 0 {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(uid))
	return err == nil && u.Username == profile.OwnerUser
}

// ownerFix gives a profile the owner and modes kk-monitor genprofile gives
// it when kk-monitor's group exists.
func ownerFix(dir string) string {
	return fmt.Sprintf("chown -R root:%s %s && chmod 750 %s && chmod 640 %s/*", profile.OwnerUser, dir, dir, dir)
}

// WriteText writes the report for a person: the configuration, then one
// line per profile.
func (r *Report) WriteText(w io.Writer) error {
	b := &strings.Builder{}
	switch {
	case r.Config.Error != "":
		fmt.Fprintf(b, "config      %s: BROKEN: %s (kk-monitor will not start; the defaults are shown)\n", r.Config.Path, r.Config.Error)
	case !r.Config.Found:
		fmt.Fprintf(b, "config      %s (absent: the defaults apply)\n", r.Config.Path)
	default:
		fmt.Fprintf(b, "config      %s\n", r.Config.Path)
	}
	for _, k := range r.Config.UnknownKeys {
		fmt.Fprintf(b, "config      %s: unknown key %q in [main] is ignored (misspelt? see man 5 knockknock.conf)\n", r.Config.Path, k)
	}
	src := r.LogSource
	if src == config.SourceFile {
		src += " " + r.LogFile
	}
	fmt.Fprintf(b, "log source  %s (%s)\n", src, r.LogReason)
	fmt.Fprintf(b, "state dir   %s\n", r.StateDir)
	fmt.Fprintf(b, "socket      %s\n", r.Socket)
	if r.ProfilesError != "" {
		fmt.Fprintf(b, "profiles    %s: BROKEN: %s", r.ProfilesDir, r.ProfilesError)
		if r.ProfilesFix != "" {
			fmt.Fprintf(b, "; fix: %s", r.ProfilesFix)
		}
		b.WriteByte('\n')
	} else {
		fmt.Fprintf(b, "profiles    %s\n", r.ProfilesDir)
	}
	for _, p := range r.Profiles {
		b.WriteString(p.line())
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// line formats a profile as one line, without a newline.
func (p ProfileStatus) line() string {
	if p.Error != "" {
		label := "BROKEN"
		if p.NotRead {
			label = "NOT READ"
		}
		s := fmt.Sprintf("profile %s: %s: %s", p.Name, label, p.Error)
		if p.Fix != "" {
			s += "; fix: " + p.Fix
		}
		return s
	}
	allowed := "any"
	if len(p.AllowedPorts) > 0 {
		allowed = profile.FormatPorts(p.AllowedPorts)
	}
	where := fmt.Sprintf("kk-monitor's state counter %s", p.CounterFile)
	if p.CounterSource == CounterProfile {
		where = fmt.Sprintf("the profile's own %s, which kk-monitor takes over at its next start or reload", p.CounterFile)
	}
	return fmt.Sprintf("profile %s: knock port %d, v%d, counter %d (%s), allowed ports: %s",
		p.Name, p.KnockPort, p.Version, *p.Counter, where, allowed)
}

// WriteJSON writes the report as one indented JSON object.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
