package fwrpc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"github.com/kk-project/kk/pkg/firewall"
)

// StartCommand starts kk-firewall the way the shipped units do: its socket,
// which starts the service on the first connection.
const StartCommand = "systemctl start kk-firewall.socket"

// DialAdmin connects to the kk-firewall socket at path for an
// administrator's command (kk-firewall list and revoke) and returns a
// Client on that connection. Unlike Dial it connects at once, so that a
// missing helper or a socket the caller may not use is reported here, in
// words that say what to do: an error wrapping firewall.ErrUnavailable when
// nothing serves path, one wrapping firewall.ErrPermission when the socket's
// mode keeps the caller out.
func DialAdmin(ctx context.Context, path string) (*Client, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, explainConnect(path, err)
	}
	var once sync.Once
	first := func(ctx context.Context, p string) (net.Conn, error) {
		var c net.Conn
		once.Do(func() { c, conn = conn, nil })
		if c != nil {
			return c, nil
		}
		return d.DialContext(ctx, "unix", p)
	}
	return Dial(path, WithDialer(first))
}

// explainConnect turns connect(2)'s error on path into advice.
func explainConnect(path string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return advice(firewall.ErrUnavailable, "kk-firewall is not running: there is no socket %s (start it with: %s)",
			path, StartCommand)
	case errors.Is(err, syscall.ECONNREFUSED):
		return advice(firewall.ErrUnavailable, "kk-firewall is not running: nothing listens on %s (start it with: %s)",
			path, StartCommand)
	case errors.Is(err, fs.ErrPermission):
		return advice(firewall.ErrPermission, "permission denied: uid %d may not connect to %s: %s",
			os.Geteuid(), path, GroupAdvice(path))
	}
	return advice(firewall.ErrUnavailable, "connecting to kk-firewall at %s: %v", path, err)
}

// ExplainAdminError adds to an error from a Client made by DialAdmin what
// the caller can do about it: a refusal by kk-firewall names the socket's
// group, a helper that stopped answering names the journal.
func ExplainAdminError(path string, err error) error {
	switch {
	case errors.Is(err, firewall.ErrPermission):
		return advice(firewall.ErrPermission, "kk-firewall on %s refused uid %d: %s (%v)", path, os.Geteuid(), GroupAdvice(path), err)
	case errors.Is(err, firewall.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return advice(firewall.ErrUnavailable, "kk-firewall on %s did not answer; journalctl -u kk-firewall says why, %s starts it again (%v)",
			path, StartCommand, err)
	}
	return err
}

// An adviceError is a message for a person that still matches its
// firewall sentinel with errors.Is, without the sentinel's words in front.
type adviceError struct {
	msg  string
	kind error
}

func advice(kind error, format string, args ...any) error {
	return &adviceError{msg: fmt.Sprintf(format, args...), kind: kind}
}

func (e *adviceError) Error() string { return e.msg }

func (e *adviceError) Unwrap() error { return e.kind }

// GroupAdvice says how to become allowed to list and revoke through the
// socket at path: as root, or as a member of the socket's group.
func GroupAdvice(path string) string {
	g := SocketGroup(path)
	if g == "" {
		return "run as root"
	}
	return fmt.Sprintf("run as root or add yourself to group %s (usermod -a -G %s USER, then log in again)", g, g)
}

// SocketGroup returns the name of path's group, or of its directory's when
// path cannot be examined (the shipped /run/knockknock is 0750 and shares
// the socket's group); a number if the group has no name, "" if neither
// can be examined.
func SocketGroup(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		if fi, err = os.Stat(filepath.Dir(path)); err != nil {
			return ""
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	gid := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(gid); err == nil {
		return g.Name
	}
	return gid
}
