package check

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
)

// socketFix is what starts kk-firewall's socket again.
const socketFix = "systemctl start kk-firewall.socket"

// checkSocket checks that kk-firewall's socket exists and that kk-monitor's
// user may connect to it, as kk-firewall.socket arranges (SocketGroup and
// SocketMode=0660, in a directory of that group).
func (r *run) checkSocket() Result {
	path := r.cfg.Socket
	what := "socket " + path
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return Result{Status: Fail, What: what, Why: "does not exist", Fix: socketFix}
	case errors.Is(err, fs.ErrPermission) && !r.runningAs():
		return r.notChecked(what)
	case err != nil:
		return Result{Status: Fail, What: what, Why: err.Error(), Fix: socketFix}
	case fi.Mode().Type() != fs.ModeSocket:
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("is not a socket (%s)", fi.Mode().Type()),
			Fix: "remove it, then systemctl restart kk-firewall.socket"}
	case r.id == nil:
		return Result{Status: Warn, What: what, Why: "not checked: no user " + r.opts.User}
	}
	if d, dfi := r.id.blockedDir(path); d != "" {
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("%s cannot reach it: %s is %s", r.id.name, d, describe(dfi)),
			Fix: fmt.Sprintf("chgrp %s %s && chmod 750 %s (kk's tmpfiles.d file does this at boot)", r.id.primaryGroup(), d, d)}
	}
	if !r.id.may(fi, permWrite) {
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("%s may not connect (%s)", r.id.name, describe(fi)),
			Fix: fmt.Sprintf("SocketGroup=%s and SocketMode=0660 in kk-firewall.socket, then systemctl restart kk-firewall.socket", r.id.primaryGroup())}
	}
	if fi.Mode().Perm()&0o002 != 0 {
		return Result{Status: Warn, What: what, Why: fmt.Sprintf("any local user may connect (%s); kk-firewall still refuses them", describe(fi)),
			Fix: "SocketMode=0660 in kk-firewall.socket, then systemctl restart kk-firewall.socket"}
	}
	return ok("%s: %s may connect (%s)", what, r.id.name, describe(fi))
}

// checkFirewall calls kk-firewall's health service through the socket,
// connecting as kk-monitor's user when run as root, so that kk-firewall's
// peer check judges that user. Run as another user it can only say whether
// kk-firewall refused that user.
func (r *run) checkFirewall(ctx context.Context) Result {
	path := r.cfg.Socket
	what := "kk-firewall on " + path
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return Result{Status: Fail, What: what, Why: "not reached: no socket", Fix: socketFix}
	}
	if !r.runningAs() && unix.Access(path, unix.W_OK) != nil {
		return r.notChecked(what)
	}
	c, err := fwrpc.Dial(path, fwrpc.WithDialer(r.dialAs))
	if err != nil {
		return Result{Status: Fail, What: what, Why: err.Error(), Fix: socketFix}
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()
	return r.healthResult(what, c.Health(ctx))
}

// dialAs connects to the socket as the identity (see identity.do).
func (r *run) dialAs(ctx context.Context, path string) (net.Conn, error) {
	var conn net.Conn
	err := r.id.do(func() (err error) {
		var d net.Dialer
		conn, err = d.DialContext(ctx, "unix", path)
		return err
	})
	return conn, err
}

// healthResult grades the answer of kk-firewall's health service.
func (r *run) healthResult(what string, err error) Result {
	as := fmt.Sprintf("uid %d", os.Geteuid())
	if r.runningAs() && r.id != nil {
		as = fmt.Sprintf("%s (uid %d)", r.id.name, r.id.uid)
	}
	switch {
	case err == nil:
		return ok("%s: SERVING, asked as %s", what, as)
	case errors.Is(err, firewall.ErrPermission) && !r.runningAs():
		return Result{Status: Warn, What: what, Why: fmt.Sprintf("the socket answered but kk-firewall refused %s", as),
			Fix: "the health check runs fully as root or " + r.opts.User + ": " + r.asUser()}
	case errors.Is(err, firewall.ErrPermission):
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("kk-firewall refuses %s", as),
			Fix: fmt.Sprintf("run kk-firewall with --allow-user %s, as kk-firewall.service does", r.opts.User)}
	case errors.Is(err, context.DeadlineExceeded):
		return Result{Status: Fail, What: what, Why: fmt.Sprintf("no answer within %s", r.opts.Timeout),
			Fix: "journalctl -u kk-firewall says what it is doing; systemctl restart kk-firewall"}
	}
	return Result{Status: Fail, What: what, Why: fmt.Sprintf("as %s: %s", as, shortDialError(err)),
		Fix: socketFix + " (journalctl -u kk-firewall says why it stopped)"}
}

// asUser is the command line that runs the check as kk-monitor's user.
func (r *run) asUser() string {
	return fmt.Sprintf("sudo -u %s %s (or runuser -u %s -- %s)", r.opts.User, r.opts.Command, r.opts.User, r.opts.Command)
}

// shortDialError keeps the end of gRPC's long connection error, the part
// that says what connect(2) returned, such as "connect: connection refused".
func shortDialError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "connect: "); i >= 0 {
		return strings.TrimSuffix(msg[i:], `"`)
	}
	return msg
}
