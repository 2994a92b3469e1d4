package profile

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// OwnerUser is the system user that runs kk-monitor. Generate hands new
// profiles to it when it exists, so the unprivileged monitor can update
// their counters.
const OwnerUser = "knockknock"

// Generate creates the profile name in profilesDir with fresh random keys,
// counter 0 and the given knock port. It refuses a name that already
// exists, a name that could leave profilesDir, a knock port outside
// 1-65535, and a knock port another profile already uses.
func Generate(profilesDir, name string, knockPort int) (*Profile, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	if knockPort < 1 || knockPort > 65535 {
		return nil, fmt.Errorf("knock port %d is out of range: use 1-65535", knockPort)
	}
	if err := os.MkdirAll(profilesDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating profiles directory: %w", err)
	}
	if other, ok := findKnockPort(profilesDir, uint16(knockPort)); ok {
		return nil, fmt.Errorf("knock port %d is already used by profile %s (%s): each profile needs its own knock port",
			knockPort, other, filepath.Join(profilesDir, other))
	}
	p := &Profile{Name: name, Dir: filepath.Join(profilesDir, name), KnockPort: uint16(knockPort)}
	if err := os.Mkdir(p.Dir, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("profile %s already exists in %s: pick another name or remove it first", name, profilesDir)
		}
		return nil, fmt.Errorf("creating profile: %w", err)
	}
	if err := p.writeNew(); err != nil {
		os.RemoveAll(p.Dir)
		return nil, err
	}
	return p, nil
}

func checkName(name string) error {
	if name == "" || strings.ContainsRune(name, '/') || strings.Contains(name, "..") ||
		strings.HasPrefix(name, ".") || strings.ContainsAny(name, "\x00\n") {
		return fmt.Errorf("profile name %q is not allowed: use letters, digits, '-' or '_', without '/' or '..'", name)
	}
	return nil
}

// findKnockPort returns the name of a profile in profilesDir whose config
// names port. Profiles with unreadable configs are ignored here; LoadAll
// reports them.
func findKnockPort(profilesDir string, port uint16) (string, bool) {
	entries, _ := os.ReadDir(profilesDir)
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		if p, err := ReadKnockPort(filepath.Join(profilesDir, e.Name())); err == nil && p == port {
			return e.Name(), true
		}
	}
	return "", false
}

func (p *Profile) writeNew() error {
	if _, err := rand.Read(p.Keys.Cipher[:]); err != nil {
		return fmt.Errorf("generating cipher key: %w", err)
	}
	if _, err := rand.Read(p.Keys.MAC[:]); err != nil {
		return fmt.Errorf("generating MAC key: %w", err)
	}
	files := map[string]string{
		CipherKeyFile: base64.StdEncoding.EncodeToString(p.Keys.Cipher[:]) + "\n",
		MACKeyFile:    base64.StdEncoding.EncodeToString(p.Keys.MAC[:]) + "\n",
		CounterFile:   "0\n",
		ConfigFile:    "[main]\nknock_port = " + strconv.Itoa(int(p.KnockPort)) + "\n\n",
	}
	for name, body := range files {
		if err := os.WriteFile(p.path(name), []byte(body), 0o600); err != nil {
			return fmt.Errorf("writing profile: %w", err)
		}
	}
	if err := syncDir(p.Dir); err != nil {
		return err
	}
	return p.chownToOwner()
}

// chownToOwner gives the profile to OwnerUser if that user exists.
func (p *Profile) chownToOwner() error {
	u, err := user.Lookup(OwnerUser)
	if err != nil {
		return nil
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, path := range append([]string{p.Dir}, p.paths()...) {
		if err := os.Chown(path, uid, gid); err != nil {
			return fmt.Errorf("handing profile to user %s: %w", OwnerUser, err)
		}
	}
	return nil
}

func (p *Profile) paths() []string {
	out := make([]string, len(Files))
	for i, f := range Files {
		out[i] = p.path(f)
	}
	return out
}

// CopyCommand returns the scp command line that copies this server-side
// profile to a client's ~/.knockknock/<serverHost>/.
func (p *Profile) CopyCommand(serverHost string) string {
	return fmt.Sprintf("mkdir -p ~/.knockknock/%s && scp root@%s:%s/* ~/.knockknock/%s/",
		serverHost, serverHost, p.Dir, serverHost)
}
