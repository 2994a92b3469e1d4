package main

import (
	"strconv"

	"github.com/kk-project/kk/pkg/manual"
)

// newPage returns kk-client(1). Its OPTIONS come from knockFlags and
// proxyFlags, the flag sets the commands parse with, so the page lists
// exactly the real flags.
func newPage() *manual.Page {
	knockFS, _ := knockFlags(progClient)
	proxyFS, _, _ := proxyFlags(progClient + " proxy")
	return &manual.Page{
		Name:    progClient,
		Section: "1",
		Summary: "send a knockknock port knock, or run a knock-aware SOCKS5 proxy",
		Synopsis: []string{
			"kk-client -p PORT -s HOST [-4 | -6] [-d DIR] [--nat-address ADDR]",
			"kk-client -p PORT [-4 | -6] [-d DIR] [--nat-address ADDR] HOST",
			"kk-client proxy [PROXY OPTIONS] LISTENPORT",
			"kk-client proxy [PROXY OPTIONS] --unix PATH [LISTENPORT]",
			"kk-client help [--roff]",
			"kk-client --version",
			"knockknock -p PORT -s HOST [-d DIR]",
			"knockknock -p PORT HOST [-d DIR]",
			"knockknock-proxy [PROXY OPTIONS] LISTENPORT",
		},
		Sections: []manual.Section{
			{Title: "DESCRIPTION", Text: `
kk-client asks a knockknock server (kk-monitor) to open a TCP port for this
machine. It sends one TCP SYN to the profile's knock port, a port the
server's firewall rejects and logs. The IPv4 ID (over IPv6 the flow label),
sequence, acknowledgement and window fields of that SYN carry the request,
encrypted and authenticated with the profile's keys and numbered by its
counter, so a captured knock cannot be replayed. The server then opens the
port to this machine's address for its delay (15 seconds by default), until
the first connection.

Nothing answers a knock: "Knock sent." means the packet left, not that the
port is open. Connect within the server's delay.

The profile is the directory the server's administrator created with
kk-monitor genprofile (knockknock-genprofile), copied from the server's
/etc/knockknock.d/profiles/<profileName>/ into ~/.knockknock/<host>/ on this
machine, where <host> is the name or address given on the command line, or
into the directory given with -d. A profile copied from an original
knockknock install works unchanged. Its files must be owned by the user who
knocks and readable by nobody else (chmod 600); kk-client refuses them
otherwise and says how to fix them.

The knock is written byte by byte on a raw socket, so no hping3 is needed.
Opening a raw socket takes the CAP_NET_RAW capability on Linux: run
kk-client as root, or grant it once with
sudo setcap cap_net_raw+ep "$(command -v kk-client)". On macOS and FreeBSD it
takes root: run it with sudo, as the original's README did.

Run with sudo, kk-client looks for the profile in the home of the user who
ran sudo (HOME if that user owns it, as macOS's sudo keeps it, else the
user database's), and when that user owns the profile directory it opens
the raw sockets as root and then gives root up for that user before it
reads the profile: the profile stays the user's, mode 0600, and its counter
is written as the user. The proxy does the same with its profiles
directory, and then serves as the user.

The binary also answers to the original knockknock's command names, read
from the name it is invoked as (installed as symbolic links to kk-client):
knockknock knocks, with the host given with -s or as the last argument, and
knockknock-proxy runs the proxy.

A knock goes over the address family a TCP connection to the host would
use first; -4 and -6 choose. macOS and FreeBSD cannot send IPv6 knocks:
their raw IPv6 sockets have no IPV6_HDRINCL to write the flow label the
knock travels in. There kk-client knocks the host's IPv4 address, and -6
or a host with only IPv6 addresses is an error; connect over IPv4 too
(ssh -4), since the opening is for the address the knock came from. A knock with a v2 profile is bound to the
source address the server sees, this machine's own toward the server unless
--nat-address names the public address of a NAT in between.
`},
			{Title: "COMMANDS", Entries: []manual.Entry{
				{Term: "(none)", Text: `Knock: send one knock asking the server HOST to open PORT. Prints
"Knock sent." and exits 0 once the packet has left.`},
				{Term: "proxy", Text: `Run a SOCKS5 proxy on 127.0.0.1 and ::1 port LISTENPORT (0 picks a
free port), and with --unix on a unix socket. When a client asks it for a
connection to a host that has a profile in the profiles directory
(~/.knockknock/<host>/), the proxy knocks first, waits --wait, and dials,
up to --attempts times; connections to other hosts are proxied as they
are. A knock is reused for the server's --delay, and at most 10 knocks go
to one host within it. Clients on TCP must give the user name and password
in ~/.knockknock/proxy-credentials, created at the proxy's first start
(mode 0600); on the unix socket only the user who runs the proxy is
served, as the kernel reports the peer. It stops on SIGINT or SIGTERM.
Invoked as knockknock-proxy, the binary is this command.`},
				{Term: "help [--roff]", Text: `Print this manual as text, or with --roff as the man page.`},
			}},
			{Title: "OPTIONS", Text: `Options of the knock (kk-client and knockknock). Flags may come before or after the host.`, Flags: knockFS},
			{Title: "PROXY OPTIONS", Text: `Options of kk-client proxy and knockknock-proxy. Flags may come before or after LISTENPORT.`, Flags: proxyFS},
			{Title: "EXIT STATUS", Entries: []manual.Entry{
				{Term: "0", Text: "The knock was sent; the proxy stopped on a signal; --help, --version or help."},
				{Term: strconv.Itoa(exitError), Text: "An error: the profile is missing, unreadable or corrupt, the host does not resolve, sending failed."},
				{Term: strconv.Itoa(exitUsage), Text: "A usage error: a missing, unknown or invalid flag or argument. The usage is printed."},
				{Term: strconv.Itoa(exitCap), Text: "The raw socket may not be opened: CAP_NET_RAW is missing on Linux, or on macOS and FreeBSD the command was not run as root. The message says how to fix it."},
			}},
			{Title: "ENVIRONMENT", Entries: []manual.Entry{
				{Term: "HOME", Text: "The default profiles directory is $HOME/.knockknock."},
				{Term: "SUDO_UID, SUDO_GID", Text: "Set by sudo: when kk-client runs as root with them, the profile is looked for in that user's home and, if it is that user's, used as that user (see DESCRIPTION)."},
			}},
			{Title: "FILES", Entries: []manual.Entry{
				{Term: "~/.knockknock/<host>/", Text: "The profile for the server <host>, as copied from the server's /etc/knockknock.d/profiles/<profileName>/ (another directory with -d)."},
				{Term: "~/.knockknock/<host>/cipher.key", Text: "The profile's encryption key, base64. Readable by its owner only."},
				{Term: "~/.knockknock/<host>/mac.key", Text: "The profile's MAC key, base64. Readable by its owner only."},
				{Term: "~/.knockknock/<host>/counter", Text: "The next counter not reserved, in the original knockknock's format: kk-client makes it durable a few counters ahead of the knocks it sends, so every counter sent is below it. The server refuses a counter it has already seen."},
				{Term: "~/.knockknock/<host>/.kk-counter-reserve", Text: "kk-client's next counter below the one in counter, trusted only on the boot that wrote it and while counter is unchanged. Safe to delete: the next knock then starts at counter."},
				{Term: "~/.knockknock/<host>/config", Text: "The profile's settings: knock_port, the port knocks go to, in section [main]."},
				{Term: "~/.knockknock/proxy-credentials", Text: "The user name and password, as one line user:password, that the proxy's TCP clients must give. Created by the proxy at its first start, mode 0600."},
			}},
			{Title: "EXAMPLES", Text: `
Copy the profile from the server, then open ssh for 15 seconds and connect:

	mkdir -p ~/.knockknock/myserver.com
	scp root@myserver.com:/etc/knockknock.d/profiles/clement-laptop/* ~/.knockknock/myserver.com/
	kk-client -p 22 -s myserver.com && ssh myserver.com

The same with the original's name, the host as the last argument, and a
profile kept elsewhere (on macOS, with sudo):

	sudo knockknock -p 22 myserver.com -d /media/usb/myserver_profile

Run the proxy on port 1080 and fetch a knocked web server through it, with
the credentials the proxy created:

	kk-client proxy 1080
	curl --socks5-hostname "$(cat ~/.knockknock/proxy-credentials)@127.0.0.1:1080" https://myserver.com/

Run the proxy on a unix socket only, for your own user, and use it with curl:

	kk-client proxy --unix /run/user/1000/kk.sock
	curl --proxy socks5h://localhost/run/user/1000/kk.sock https://myserver.com/
`},
			{Title: "SEE ALSO", Text: `kk-monitor(8), kk-firewall(8), knockknock.conf(5), setcap(8), ssh(1), curl(1)`},
		},
	}
}
