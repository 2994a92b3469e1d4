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
	"syscall"
)

// OwnerUser is the system user that runs kk-monitor; its group is the one
// Generate lets read new profiles.
const OwnerUser = "knockknock"

// Generate creates the profile name in profilesDir with fresh random keys,
// counter 0 and the given knock port, readable by the group of OwnerUser if
// it exists (see GenerateForGroup).
func Generate(profilesDir, name string, knockPort int) (*Profile, error) {
	gid := -1
	if g, err := user.LookupGroup(OwnerUser); err == nil {
		gid, _ = strconv.Atoi(g.Gid)
	}
	return GenerateForGroup(profilesDir, name, knockPort, gid)
}

// GenerateForGroup creates the profile name in profilesDir with fresh
// random keys, counter 0 and the given knock port. It refuses a name that
// already exists, a name that could leave profilesDir, a knock port outside
// 1-65535, and a knock port another profile already uses.
//
// The profile is the caller's (root's, as genprofile runs): directory 0750
// and files 0640 with group gid, or 0700 and 0600 if gid is -1. Everything
// is done through file descriptors: the directory is created 0700, each file
// is created with O_EXCL inside it (never through a symlink), owned and
// moded through its open descriptor, and synced; the directory gets its
// group last, so nobody else can reach a file before it is complete.
func GenerateForGroup(profilesDir, name string, knockPort, gid int) (*Profile, error) {
	return GenerateAllowing(profilesDir, name, knockPort, gid, nil)
}

// GenerateAllowing is GenerateForGroup, and writes allowed_ports = allowed
// into the profile's config unless allowed is empty.
func GenerateAllowing(profilesDir, name string, knockPort, gid int, allowed []uint16) (*Profile, error) {
	return GenerateVersion(profilesDir, name, knockPort, gid, allowed, 1)
}

// GenerateVersion is GenerateAllowing for knock format version (1 or 2);
// version 2 is written into the config as version = 2.
func GenerateVersion(profilesDir, name string, knockPort, gid int, allowed []uint16, version int) (*Profile, error) {
	if version != 1 && version != 2 {
		return nil, fmt.Errorf("knock version %d: use 1 or 2", version)
	}
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
	if len(allowed) > 0 {
		var err error
		if allowed, err = ParsePorts(FormatPorts(allowed)); err != nil {
			return nil, fmt.Errorf("%s %w", AllowedPortsKey, err)
		}
	}
	p := &Profile{Name: name, Dir: filepath.Join(profilesDir, name), KnockPort: uint16(knockPort), AllowedPorts: allowed, Version: version}
	root, err := os.OpenRoot(profilesDir)
	if err != nil {
		return nil, fmt.Errorf("opening profiles directory: %w", err)
	}
	defer root.Close()
	if err := root.Mkdir(name, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("profile %s already exists in %s: pick another name or remove it first", name, profilesDir)
		}
		return nil, fmt.Errorf("creating profile: %w", err)
	}
	if err := p.writeNew(root, gid); err != nil {
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

// writeNew fills the new, empty directory p.Name in root. On failure it
// removes what it created, through the same descriptors.
func (p *Profile) writeNew(root *os.Root, gid int) (err error) {
	dir, err := openNewDir(root, p.Name)
	if err != nil {
		root.Remove(p.Name)
		return err
	}
	defer dir.Close()
	var created []string
	defer func() {
		if err != nil {
			for _, f := range created {
				dir.Remove(f)
			}
			root.Remove(p.Name) // only if empty: never a directory someone else filled
		}
	}()
	files, err := p.newFiles()
	if err != nil {
		return err
	}
	for _, f := range Files {
		if err := createFile(dir, f, files[f], gid); err != nil {
			return err
		}
		created = append(created, f)
	}
	return closeNewDir(dir, p.Dir, gid)
}

// openNewDir opens the directory root just created, and makes sure it is
// the one: a directory of this process's user, not a symlink.
func openNewDir(root *os.Root, name string) (*os.Root, error) {
	dir, err := root.OpenRoot(name)
	if err != nil {
		return nil, fmt.Errorf("opening new profile: %w", err)
	}
	if fi, err := dir.Stat("."); err != nil || !fi.IsDir() || owner(fi) != os.Geteuid() {
		dir.Close()
		return nil, fmt.Errorf("new profile %s/%s was replaced while being created", root.Name(), name)
	}
	return dir, nil
}

func (p *Profile) newFiles() (map[string]string, error) {
	if _, err := rand.Read(p.Keys.Cipher[:]); err != nil {
		return nil, fmt.Errorf("generating cipher key: %w", err)
	}
	if _, err := rand.Read(p.Keys.MAC[:]); err != nil {
		return nil, fmt.Errorf("generating MAC key: %w", err)
	}
	return map[string]string{
		CipherKeyFile: base64.StdEncoding.EncodeToString(p.Keys.Cipher[:]) + "\n",
		MACKeyFile:    base64.StdEncoding.EncodeToString(p.Keys.MAC[:]) + "\n",
		CounterFile:   "0\n",
		ConfigFile:    p.config(),
	}, nil
}

// config returns the profile's config file.
func (p *Profile) config() string {
	c := "[main]\nknock_port = " + strconv.Itoa(int(p.KnockPort)) + "\n"
	if len(p.AllowedPorts) > 0 {
		c += AllowedPortsKey + " = " + FormatPorts(p.AllowedPorts) + "\n"
	}
	if p.Version == 2 {
		c += VersionKey + " = 2\n"
	}
	return c + "\n"
}

// createFile creates name in dir with O_EXCL (so never through a symlink),
// writes body, gives it group gid and mode 0640 through the open file, and
// syncs it.
func createFile(dir *os.Root, name, body string, gid int) error {
	f, err := dir.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("writing profile: %w", err)
	}
	defer f.Close()
	if _, err := f.WriteString(body); err != nil {
		return fmt.Errorf("writing profile: %w", err)
	}
	if gid >= 0 {
		if err := f.Chown(-1, gid); err != nil {
			return fmt.Errorf("giving %s to group %d: %w", f.Name(), gid, err)
		}
		if err := f.Chmod(0o640); err != nil {
			return fmt.Errorf("writing profile: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", f.Name(), err)
	}
	return f.Close()
}

// closeNewDir syncs the finished directory and only then lets group gid in.
func closeNewDir(dir *os.Root, path string, gid int) error {
	d, err := dir.Open(".")
	if err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if gid >= 0 {
		if err := d.Chown(-1, gid); err != nil {
			return fmt.Errorf("giving %s to group %d: %w", path, gid, err)
		}
		if err := d.Chmod(0o750); err != nil {
			return fmt.Errorf("writing profile: %w", err)
		}
	}
	return syncDir(filepath.Dir(path))
}

func owner(fi fs.FileInfo) int {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}

// CopyCommand returns the scp command line that copies this server-side
// profile to a client's ~/.knockknock/<serverHost>/. scp keeps the
// server's 0640, which kk-client refuses, so it ends with chmod 600.
func (p *Profile) CopyCommand(serverHost string) string {
	return fmt.Sprintf("mkdir -p ~/.knockknock/%s && scp root@%s:%s/* ~/.knockknock/%s/ && chmod 600 ~/.knockknock/%s/*",
		serverHost, serverHost, p.Dir, serverHost, serverHost)
}
