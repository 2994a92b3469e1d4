package main

import (
	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/manual"
)

// page returns kk-firewall(8). Its OPTIONS come from the flag sets the
// commands parse with.
func page() *manual.Page {
	var roff bool
	return &manual.Page{
		Name:    "kk-firewall",
		Section: "8",
		Summary: "kk's firewall helper: opens a TCP port for one address until a deadline, lists and revokes openings",
		Synopsis: []string{
			"kk-firewall [run] [--listen SOCKET] [--allow-user USERS] [--allow-ports PORTS|profiles] [options]",
			"kk-firewall list [--socket SOCKET] [--json] [--timeout D]",
			"kk-firewall revoke [--socket SOCKET] [--json] [--timeout D] IP PORT",
			"kk-firewall cleanup",
			"kk-firewall help [--roff]",
			"kk-firewall version | --version",
		},
		Sections: []manual.Section{
			{Title: "DESCRIPTION", Text: description},
			{Title: "COMMANDS", Entries: []manual.Entry{
				{Term: "run", Text: `Serve the knockknock.firewall.v1 gRPC API on the socket (the default command, also without "run"). ` +
					`With the socket passed by systemd (kk-firewall.socket, LISTEN_FDS) it uses that one, which must be exactly one; ` +
					`otherwise it creates --listen with mode 0660 and, with --allow-user, the group of the first user. It logs its version, ` +
					`then its socket, allowed uids and the socket's group, to standard error (the journal).`},
				{Term: "list", Text: `Print the live openings, as kk-firewall reads them from its chains: one line each with the source ` +
					`address, its family (ipv4: iptables, ipv6: ip6tables), the protocol (tcp), the port, the profile that knocked, ` +
					`the deadline in UTC and the time left; "no openings" if there are none. With --json, the object under JSON OUTPUT.`},
				{Term: "revoke IP PORT", Text: `Close the opening for IP and PORT now: its rule leaves the chain and new connections ` +
					`from IP to PORT are refused again. A connection made before is not cut. Prints "revoked IP port PORT"; ` +
					`exits 3 if there is no such opening. Options may come before or after IP PORT.`},
				{Term: "cleanup", Text: `Delete the ` + firewall.Chain + ` chains of iptables and ip6tables and the jumps to them from ` +
					`INPUT. kk-firewall.service runs it after the helper stops (ExecStopPost).`},
				{Term: "help [--roff]", Text: "Print this manual; with --roff, as a man(7) page (make man writes it so)."},
				{Term: "version", Text: "Print the version, as --version does."},
			}},
			{Title: "OPTIONS", Text: "Of run, the default command:", Flags: runFlags(&options{})},
			{Title: "LIST AND REVOKE OPTIONS", Flags: adminFlags("kk-firewall list", &adminOptions{})},
			{Title: "CLEANUP OPTIONS", Flags: cleanupFlags()},
			{Title: "HELP OPTIONS", Flags: helpFlags(&roff)},
			{Title: "JSON OUTPUT", Text: jsonOutput},
			{Title: "SECURITY", Text: security},
			{Title: "EXIT STATUS", Entries: []manual.Entry{
				{Term: "0", Text: "Success; for list also when there are no openings."},
				{Term: "1", Text: "Failure: kk-firewall could not start or serve (the message says why), iptables failed, or another error."},
				{Term: "2", Text: "Usage error: an unknown command or option, or a bad argument such as an IP or PORT that is none."},
				{Term: "3", Text: "revoke: kk-firewall has no opening for that IP and PORT."},
				{Term: "4", Text: "list, revoke: kk-firewall is not running (no socket, or nothing listening on it) or did not answer within --timeout."},
				{Term: "5", Text: "list, revoke: permission denied, by the socket's mode or by kk-firewall; run as root or as a member of the socket's group."},
			}},
			{Title: "FILES", Entries: []manual.Entry{
				{Term: config.DefaultSocket, Text: "The socket, made by kk-firewall.socket: mode 0660, owner root, group knockknock. " +
					"Default of --listen and --socket."},
				{Term: "/run/knockknock", Text: "Its directory, mode 0750, root:knockknock (tmpfiles.d/knockknock.conf); others cannot even look inside."},
				{Term: "kk-firewall.socket", Text: "Socket activation: systemctl start kk-firewall.socket makes the socket; " +
					"the first connection starts kk-firewall.service. The units live in /usr/local/lib/systemd/system after make install, " +
					"in the system's unit directory when installed from the package; systemctl cat kk-firewall.socket shows the one in use."},
				{Term: "kk-firewall.service", Text: "Runs kk-firewall --allow-user knockknock --allow-ports=profiles " +
					"with only CAP_NET_ADMIN and CAP_NET_RAW, and kk-firewall cleanup when it stops."},
				{Term: config.DefaultProfilesDir, Text: "Read at start by --allow-ports=profiles: the allowed_ports of every profile."},
			}},
			{Title: "EXAMPLES", Text: examples},
			{Title: "SEE ALSO", Text: "kk-monitor(8), kk-client(1), knockknock.conf(5), iptables(8), ip6tables(8), systemd.socket(5), grpcurl(1)"},
		},
	}
}

const description = `
kk-firewall is the only part of kk that runs as root. kk-monitor, running as the unprivileged user knockknock, reads the kernel log, verifies knocks and asks kk-firewall over a unix socket to open a TCP port for the knocking address; kk-firewall checks every argument against its own limits (--allow-ports, --max-duration, --max-openings) and adds one rule for it.

Each opening is one rule in the KNOCKKNOCK chain, which INPUT jumps to first: iptables for an IPv4 address, ip6tables for an IPv6 one. The rule admits NEW TCP connections from the address to the port, at most one (-m limit --limit 1/day --limit-burst 1), until the deadline (-m time --datestop), and carries the deadline and the profile in its comment. At the deadline the kernel stops matching the rule even if kk-firewall is dead; kk-firewall then deletes it. Opening a pair that is already open moves its deadline. At start kk-firewall adopts the rules a previous run left and deletes expired ones.

With iptables-nft, kk-firewall writes an opening's rule straight into nf_tables over netlink, as exactly the expressions iptables-nft writes for it, which saves running iptables (several milliseconds) between the knock and the rule; iptables lists, checks and deletes it as its own, and everything else (listing, deleting, the sweep at start, putting the INPUT jump back) still runs iptables. At start it writes a test rule for each family (192.0.2.1 or 2001:db8::1, port 9, a deadline in 2001, so it never matches) in a chain of its own, KNOCKKNOCK-CHECK, which nothing jumps to and which it deletes right after, and uses netlink for that family only if iptables -S prints it as the rule iptables would write and iptables -D deletes it; the check runs after the first call, which runs iptables, or half a second after start, so that the knock that socket-activated kk-firewall does not wait for it. Otherwise, and always with iptables-legacy or --backend iptables, it runs iptables for every rule. It logs which, per family.

Usually systemd starts kk-firewall on the first connection to kk-firewall.socket, and kk-firewall exits after --idle-exit with no call and nothing pending. Its API (knockknock.firewall.v1: Open, List, Revoke, plus gRPC health and reflection) can also be called with grpcurl.

An administrator sees and closes the openings with kk-firewall list and kk-firewall revoke, which call List and Revoke on the running kk-firewall through its socket; they change nothing by themselves and need no capability.
`

const jsonOutput = `
list --json prints one object; its field names are stable (fields may be added, none renamed or removed):

	{
	  "openings": [
	    {
	      "source_ip": "192.0.2.7",
	      "family": "ipv4",
	      "protocol": "tcp",
	      "port": 22,
	      "profile": "laptop",
	      "deadline": "2026-11-27T03:20:00Z",
	      "seconds_left": 12
	    }
	  ]
	}

openings is sorted by source_ip, then port, and is [] when there are none. family is "ipv4" or "ipv6", deadline is RFC 3339 in UTC, seconds_left is rounded to the second and 0 once the deadline has passed but the rule is not yet deleted.

revoke --json prints {"revoked": {"source_ip": ..., "family": ..., "protocol": "tcp", "port": ...}} on success. Errors go to standard error as text, never to standard output.
`

const security = `
Two checks stand between a user and the API. The socket's mode is the first: kk-firewall.socket makes it 0660 root:knockknock in a 0750 root:knockknock directory, so only root and members of group knockknock can connect. kk-firewall itself is the second: it reads each connection's credentials from the kernel (SO_PEERCRED, and SO_PEERGROUPS for the supplementary groups) and decides per call:

Open: only root and the --allow-user users (kk-monitor's user). Open must follow a verified knock, so no other member of the group may open ports.

List, Revoke and the health check: also any member of the socket's group (its group when kk-firewall starts), by primary or supplementary group, so that an administrator in group knockknock can use kk-firewall list and revoke without root. The monitor's user can do nothing more with them than it already can: it opens ports and sees every knock.

Every other call is refused with PERMISSION_DENIED and logged with the caller's uid, gid and pid and the reason. Membership of group knockknock also lets a user read the profiles in /etc/knockknock.d/profiles, keys included: give it only to those you would trust with the keys, and prefer sudo kk-firewall list otherwise.

list and revoke say what to do when they cannot proceed: when there is no socket, that kk-firewall is not running and systemctl start kk-firewall.socket starts it; when the socket's mode or kk-firewall refuses, to run as root or join the socket's group.
`

const examples = `
See what is open, then close one opening:

	kk-firewall list
	kk-firewall revoke 192.0.2.7 22

The addresses open right now, for a script:

	kk-firewall list --json | jq -r '.openings[].source_ip'

Let user alice list and revoke without sudo (read SECURITY first):

	usermod -a -G knockknock alice

Run by hand, without systemd, for kk-monitor's user:

	kk-firewall --listen /run/knockknock/firewall.sock --allow-user knockknock --allow-ports 22
`
