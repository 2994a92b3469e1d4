package check

import (
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/kk-project/kk/pkg/profile"
)

// An identity is the user kk-monitor runs as, with the groups it has when
// it runs: the user's own groups and those its unit adds
// (SupplementaryGroups=). The check judges file access for this identity,
// whoever runs the check.
type identity struct {
	name   string
	uid    uint32
	gid    uint32   // the primary group
	gids   []uint32 // every group, the primary one included
	groups []string // names of gids, for messages
}

// Permission bits, as in a mode's owner, group or other triple.
const (
	permRead  = 4
	permWrite = 2
	permExec  = 1
)

// lookupIdentity finds name in the user database and adds the extra groups
// that exist (a missing one is ignored: the unit would fail to start, and
// the check for what it grants says so).
func lookupIdentity(name string, extra []string) (*identity, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, err
	}
	id := &identity{name: name}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s has non-numeric uid %q", name, u.Uid)
	}
	id.uid = uint32(uid)
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %s has non-numeric gid %q", name, u.Gid)
	}
	id.gid = uint32(gid)
	id.addGroup(u.Gid)
	gids, err := u.GroupIds()
	if err != nil {
		gids = []string{u.Gid}
	}
	for _, g := range extra {
		if grp, err := user.LookupGroup(g); err == nil {
			gids = append(gids, grp.Gid)
		}
	}
	for _, g := range gids {
		id.addGroup(g)
	}
	return id, nil
}

func (id *identity) addGroup(gid string) {
	n, err := strconv.ParseUint(gid, 10, 32)
	if err != nil || slices.Contains(id.gids, uint32(n)) {
		return
	}
	id.gids = append(id.gids, uint32(n))
	name := gid
	if g, err := user.LookupGroupId(gid); err == nil {
		name = g.Name
	}
	id.groups = append(id.groups, name)
}

// primaryGroup returns the name of the identity's primary group.
func (id *identity) primaryGroup() string {
	if len(id.groups) > 0 {
		return id.groups[0] // lookupIdentity adds the primary group first
	}
	return profile.GroupName(id.gid)
}

// inGroup reports whether the identity has the group named name.
func (id *identity) inGroup(name string) bool {
	return slices.Contains(id.groups, name)
}

// String describes the identity as "knockknock (uid 999, groups knockknock,adm)".
func (id *identity) String() string {
	return fmt.Sprintf("%s (uid %d, groups %s)", id.name, id.uid, strings.Join(id.groups, ","))
}

// may reports whether the identity gets perm (an OR of permRead, permWrite,
// permExec) on a file with info fi, by the owner, group, other rule. uid 0
// gets anything (it searches every directory, and the check never asks it
// to execute a file).
func (id *identity) may(fi fs.FileInfo, perm uint32) bool {
	uid, gid := owner(fi)
	mode := uint32(fi.Mode().Perm())
	switch {
	case id.uid == 0:
		return true
	case id.uid == uid:
		return (mode>>6)&perm == perm
	case slices.Contains(id.gids, gid):
		return (mode>>3)&perm == perm
	}
	return mode&perm == perm
}

// blockedDir returns the first directory above path that the identity may
// not search, and its info; "" if it may reach path.
func (id *identity) blockedDir(path string) (string, fs.FileInfo) {
	dir := filepath.Dir(filepath.Clean(path))
	var dirs []string
	for ; ; dir = filepath.Dir(dir) {
		dirs = append(dirs, dir)
		if dir == "/" || dir == "." {
			break
		}
	}
	slices.Reverse(dirs)
	for _, d := range dirs {
		fi, err := os.Stat(d)
		if err == nil && !id.may(fi, permExec) {
			return d, fi
		}
	}
	return "", nil
}

// owner returns a file's uid and gid.
func owner(fi fs.FileInfo) (uid, gid uint32) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Uid, st.Gid
	}
	return 0, 0
}

// describe formats a file's mode and owner as "0640 root:adm".
func describe(fi fs.FileInfo) string {
	uid, gid := owner(fi)
	return fmt.Sprintf("%04o %s:%s", fi.Mode().Perm(), profile.UserName(uid), profile.GroupName(gid))
}
