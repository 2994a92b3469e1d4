package main

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/kk-project/kk/pkg/config"
	"github.com/kk-project/kk/pkg/knock"
	"github.com/kk-project/kk/pkg/manual"
	"github.com/kk-project/kk/pkg/profile"
	"github.com/kk-project/kk/pkg/version"
)

// commandTexts describe the subcommands, for COMMANDS and the synopsis: the
// positional arguments each takes after its options, and what it does.
var commandTexts = map[string]struct{ args, text string }{
	"run": {"", `Follow the kernel log and serve the profiles; the default command. ` +
		`kk-monitor reads the configuration, loads every profile (a damaged one is logged, naming its file, and skipped), ` +
		`and follows the log source that log_source chooses, logging which and why. For each knock a profile's keys ` +
		`verify, it records the counter and asks kk-firewall to open the port for the sender for delay seconds. ` +
		`It refuses to run as root: kk-monitor.service runs it as knockknock. SIGHUP (systemctl reload kk-monitor) ` +
		`rereads the configuration and the profiles; SIGINT and SIGTERM stop it.`},
	"genprofile": {"KNOCKPORT NAME", `Create the profile NAME with fresh random keys and the knock port KNOCKPORT ` +
		`in /etc/knockknock.d/profiles/NAME/, directory 0750 and files 0640, root and the group --group (root's alone ` +
		`if that group does not exist yet), and print the command that copies it to a client. ` +
		`It refuses an existing NAME and a knock port another profile uses. Run it as root.`},
	"firewall-rules": {"", `Print the knock ports of every profile, comma-separated, or with --iptables the ` +
		`per-source LOG rules for them. knockknock-firewall.sh runs it; it reads only each profile's config file, ` +
		`never a key or a counter.`},
	"check": {"", `Answer "can this server receive knocks?": print one OK, WARN or FAIL line per step a knock takes ` +
		`(the configuration, kk-monitor's user, each profile, the LOG rules for each knock port, the log source, ` +
		`kk-firewall's socket and its answer), each WARN and FAIL with why and the fix. Run as root, it judges the ` +
		`files as --user sees them and reads iptables. It exits 1 if anything failed.`},
	"status": {"", `Print what kk-monitor serves: the configuration file, the log source it follows and why, ` +
		`the state directory and the socket, then one line per profile with its knock port, knock version (v1 or v2), ` +
		`counter and allowed ports. The counter is the one kk-monitor uses: its state counter ` +
		`(/var/lib/knockknock/NAME/counter), or the profile's own counter file that it will take over at its next ` +
		`start or reload, and the line says which. A profile kk-monitor would skip gets a BROKEN line naming the ` +
		`file at fault and the fix; the others are still listed, and status exits 1. It prints no key. ` +
		`Run it as root or as knockknock, who may read the profiles; it changes nothing.`},
	"help": {"[kk-monitor | knockknock.conf | COMMAND]", `Print this manual, the knockknock.conf(5) manual, or a ` +
		`command's usage; with --roff, the manual page's roff source (make man writes the man pages so).`},
}

// originalTexts describe the original knockknock's command names.
var originalTexts = []manual.Entry{
	{Term: "knockknock-daemon [run options]", Text: "kk-monitor run, under the original's name " +
		"(make install and the package link it to kk-monitor)."},
	{Term: "knockknock-genprofile [genprofile options] KNOCKPORT NAME", Text: "kk-monitor genprofile, under the original's name."},
}

// NewcomerSteps are the EXAMPLES block: what a newcomer types on a fresh
// server once kk is installed (the package, or make install), to create a
// profile, start kk and see a knock's opening. Lines starting with "# on"
// say where the next lines run; a test runs them so.
const NewcomerSteps = `	# on the server, as root (after make install; the package did these three itself):
	systemd-sysusers knockknock.conf
	systemd-tmpfiles --create knockknock.conf
	systemctl daemon-reload
	# on the server, as root:
	kk-monitor genprofile 666 laptop
	systemd-tmpfiles --create knockknock.conf
	systemctl enable --now knockknock-firewall.service kk-firewall.socket kk-monitor.service
	kk-monitor check
	kk-monitor status
	# on the client (the laptop), as its user; myserver is the server's name or address:
	mkdir -p ~/.knockknock/myserver && scp 'root@myserver:/etc/knockknock.d/profiles/laptop/*' ~/.knockknock/myserver/ && chmod 600 ~/.knockknock/myserver/*
	kk-client -p 22 -s myserver
	# on the server, as root, within 15 seconds of the knock:
	kk-firewall list
`

// optionsTitle is the title of cmd's OPTIONS section.
func optionsTitle(cmd string) string { return strings.ToUpper(cmd) + " OPTIONS" }

// synopsis is cmd's synopsis line, built from its flag set.
func synopsis(prog, cmd string) string {
	words := []string{prog}
	if cmd != "" {
		words = append(words, cmd)
	}
	new(flags).flagSet(cmd).VisitAll(func(f *flag.Flag) {
		arg, _ := flag.UnquoteUsage(f)
		if arg == "" {
			words = append(words, "[--"+f.Name+"]")
		} else {
			words = append(words, "[--"+f.Name+" "+strings.ToUpper(arg)+"]")
		}
	})
	if a := commandTexts[cmd].args; a != "" {
		words = append(words, a)
	}
	return strings.Join(words, " ")
}

// wrap breaks a synopsis line into lines of at most 78 characters, between
// bracketed groups, the continuations indented under the first option.
func wrap(line string) []string {
	var tokens []string
	depth := 0
	for _, w := range strings.Fields(line) {
		if depth > 0 {
			tokens[len(tokens)-1] += " " + w
		} else {
			tokens = append(tokens, w)
		}
		depth += strings.Count(w, "[") - strings.Count(w, "]")
	}
	n := 1 // the command words before the first option set the indent
	for n < len(tokens) && !strings.HasPrefix(tokens[n], "[") {
		n++
	}
	cur := strings.Join(tokens[:n], " ")
	indent := strings.Repeat(" ", len(cur)+1)
	var out []string
	for _, t := range tokens[n:] {
		if len(cur)+1+len(t) > 78 && cur != indent {
			out = append(out, cur)
			cur = indent + t
			continue
		}
		cur += " " + t
	}
	return append(out, cur)
}

// synopses returns cmd's synopsis lines; run's form may leave out "run".
func synopses(cmd string) []string {
	if cmd == "run" {
		return wrap(strings.Replace(synopsis("kk-monitor", "run"), "kk-monitor run", "kk-monitor [run]", 1))
	}
	return wrap(synopsis("kk-monitor", cmd))
}

// monitorPage is kk-monitor(8).
func monitorPage() *manual.Page {
	p := &manual.Page{
		Name:    "kk-monitor",
		Section: "8",
		Summary: "follow the kernel log for knocks and have kk-firewall open their ports",
	}
	var cmdEntries []manual.Entry
	for _, c := range commands {
		p.Synopsis = append(p.Synopsis, synopses(c)...)
		cmdEntries = append(cmdEntries, manual.Entry{Term: c, Text: commandTexts[c].text})
	}
	p.Synopsis = append(p.Synopsis, "kk-monitor --version",
		"knockknock-daemon [run options]", "knockknock-genprofile [genprofile options] KNOCKPORT NAME")
	p.Sections = []manual.Section{
		{Title: "DESCRIPTION", Text: `
kk-monitor is the unprivileged half of kk, a rebuild of knockknock: a client sends one TCP SYN whose header
fields carry an encrypted, authenticated request to open a port; the server's firewall rejects it and logs it
with its sequence number (iptables LOG --log-tcp-sequence); kk-monitor reads that line from the kernel log,
verifies it against the profiles in /etc/knockknock.d/profiles, and asks kk-firewall, the only part that runs
as root, over its unix socket to open the port for the sender's address.

Each profile is one client's keys, counter and knock port (see knockknock.conf(5)). A knock is accepted once:
its counter must be past the last one accepted and at most error_window ahead. kk-monitor writes only its own
counters, in /var/lib/knockknock; the profiles are root's and read-only to it.

The commands, paths and file formats are the original knockknock's, so a profile copied from an original
install works unchanged.`},
		{Title: "COMMANDS", Entries: append(cmdEntries, originalTexts...)},
		{Title: "OPTIONS", Text: `
Each command's options follow. Every command also takes:`, Entries: []manual.Entry{
			{Term: "--version", Text: "Print the version and exit 0."},
			{Term: "--help, -h", Text: "Print the command's usage and exit 0."},
		}},
	}
	for _, c := range commands {
		p.Sections = append(p.Sections, manual.Section{Title: optionsTitle(c), Flags: new(flags).flagSet(c)})
	}
	p.Sections = append(p.Sections,
		manual.Section{Title: "EXIT STATUS", Entries: []manual.Entry{
			{Term: "0", Text: "Success; for run, stopped by SIGINT or SIGTERM."},
			{Term: "1", Text: "An error, printed on standard error with what to do: for run, a configuration it cannot use or " +
				"root without --allow-root; for check, a FAIL line; for status, a BROKEN line."},
			{Term: "2", Text: "A usage error: an unknown option or command, or a wrong argument. The usage follows the message."},
		}},
		manual.Section{Title: "FILES", Entries: []manual.Entry{
			{Term: config.DefaultPath, Text: "The configuration; see knockknock.conf(5). Absent means the defaults."},
			{Term: config.DefaultProfilesDir + "/NAME/", Text: "A profile: cipher.key, mac.key, counter and config, " +
				"root's and readable by the knockknock group."},
			{Term: config.DefaultStateDir + "/NAME/counter", Text: "kk-monitor's counter for profile NAME, " +
				"taken over from the profile's counter file the first time it loads the profile."},
			{Term: config.DefaultLogFile, Text: "The kernel log kk-monitor follows when log_source is file, written by " +
				config.RsyslogRule + " from the kernel's messages only."},
			{Term: config.DefaultSocket, Text: "kk-firewall's socket (kk-firewall.socket)."},
			{Term: "kk-monitor.service, kk-firewall.socket, kk-firewall.service, knockknock-firewall.service",
				Text: "The systemd units: kk-monitor as knockknock; kk-firewall started by its socket; the firewall rules at boot."},
		}},
		manual.Section{Title: "EXAMPLES", Text: `
A fresh server, from installing kk to a client's first opening. Install it with apt install ./kk_*.deb, or
make build && make install from the source; the three commands after make install create the knockknock user,
the directories and load the units, which the package does itself. Then create a profile for each client
machine, start kk, and check it. Copy the profile to the client (kk-client refuses files open to its group,
hence the chmod), knock, and see the opening on the server:

` + NewcomerSteps + `
kk-monitor check prints FAIL lines with the fix for what is missing; kk-monitor status lists the profiles, their
knock ports and counters. After adding or removing a profile, systemctl reload knockknock-firewall kk-monitor
puts its knock port in the rules and the profile in the monitor.

Replay a saved kernel log through a test firewall socket and print what it did:

	kk-monitor --allow-root --log kern.log --socket /tmp/fw.sock --from-start --exit-at-eof
`},
		manual.Section{Title: "SEE ALSO", Text: "knockknock.conf(5), kk-firewall(8), kk-client(1), iptables(8), journalctl(1), rsyslogd(8)"},
	)
	return p
}

// usagePage is the page --help and usage errors print for cmd: the whole
// page's usage for "", else only cmd's synopsis and options.
func usagePage(cmd string) *manual.Page {
	p := monitorPage()
	if cmd == "" {
		return p
	}
	q := *p
	q.Synopsis = synopses(cmd)
	q.Sections = nil
	for _, s := range p.Sections {
		if s.Title == optionsTitle(cmd) {
			q.Sections = append(q.Sections, s)
		}
	}
	return &q
}

// confPage is knockknock.conf(5).
func confPage() *manual.Page {
	var keys []manual.Entry
	for _, k := range config.Keys {
		keys = append(keys, manual.Entry{Term: k.Name + " = " + k.Default, Text: k.Doc})
	}
	var allowed []string
	for _, k := range config.Keys {
		allowed = append(allowed, "\t"+k.Name+" = "+k.Default)
	}
	return &manual.Page{
		Name:    "knockknock.conf",
		Section: "5",
		Summary: "kk's configuration, profiles and counters",
		Synopsis: []string{
			config.DefaultPath,
			config.DefaultProfilesDir + "/NAME/{cipher.key,mac.key,counter,config}",
			config.DefaultStateDir + "/NAME/counter",
			"~/.knockknock/HOST/{cipher.key,mac.key,counter,config}",
			"~/.knockknock/proxy-credentials",
		},
		Sections: []manual.Section{
			{Title: "DESCRIPTION", Text: `
kk keeps the original knockknock's files and formats, so a profile or configuration copied from an original
install works unchanged. The configuration and each profile's config are INI files as Python's ConfigParser
writes them: a [main] section header, then "key = value" (or "key: value") lines; lines starting with # or ;
are comments, and keys are case-insensitive.`},
			{Title: "CONFIGURATION", Text: `
` + config.DefaultPath + ` is kk-monitor's configuration (kk-monitor --config FILE reads another). A missing
file means the defaults, which are:

` + strings.Join(allowed, "\n") + `

A bad value is an error naming the file, the key and what is allowed, and kk-monitor does not start (or, on a
reload, keeps the previous configuration). A key not listed here is ignored, so that a file from another version
loads; kk-monitor status names such keys, which are usually misspelt. kk-monitor rereads the file on SIGHUP
(systemctl reload kk-monitor). The keys, in [main]:`, Entries: keys},
			{Title: "PROFILES", Text: `
A profile is one client machine's keys, counter and knock port: the directory ` + config.DefaultProfilesDir + `/NAME/,
created by kk-monitor genprofile KNOCKPORT NAME (or the original's knockknock-genprofile). kk-monitor serves every
profile directory there whose name does not start with a dot. Its files:`, Entries: []manual.Entry{
				{Term: profile.CipherKeyFile, Text: "16 random bytes in base64, and a newline: the AES-128 key that encrypts the knock."},
				{Term: profile.MACKeyFile, Text: "16 random bytes in base64, and a newline: the HMAC-SHA1 key that authenticates it."},
				{Term: profile.CounterFile, Text: "The next unused counter, in decimal, and a newline. On the server it is " +
					"the seed of kk-monitor's state counter (see STATE) and is only read; the client's copy moves with " +
					"every knock. Never reset it: knocks with counters already used could then be replayed."},
				{Term: profile.ConfigFile, Text: "INI, [main] section, with the keys in PROFILE CONFIG."},
			}},
			{Title: "PROFILE CONFIG", Text: "A profile's config file has these keys in [main]; " +
				"kk-monitor genprofile writes them (--allow-ports, --v2):", Entries: []manual.Entry{
				{Term: "knock_port = N", Text: "The port, 1 to 65535, the client knocks on; required. Each profile needs its own: " +
					"profiles sharing a knock port are all refused, since a knock could not be told apart."},
				{Term: profile.AllowedPortsKey + " = 22, 443", Text: fmt.Sprintf("Optional, server only: the only ports, "+
					"1 to %d of them, a knock for this profile may open; absent means any port. A knock for another port "+
					"is refused and logged. Not in the original.", knock.MaxSetPorts)},
				{Term: profile.VersionKey + " = 2", Text: "Optional: the knock format. 1, the default, is the original's; " +
					"2 binds each knock to the sender's address and knock port, so a knock seen on the way cannot be sent " +
					"from elsewhere first (a client behind NAT knocks with kk-client --nat-address). The client's copy " +
					"must say the same. Not in the original."},
			}},
			{Title: "OWNERS AND MODES", Text: `
On the server every profile file is read without following a symlink and must be a regular file of at most
` + fmt.Sprint(profile.MaxFileSize) + ` bytes, owned by root (or by kk-monitor's user), and writable by nobody else; the keys must not be readable
by others, nor by any group but kk-monitor's. genprofile and kk's tmpfiles.d file make the directory 0750 and
the files 0640, root:knockknock. kk-monitor refuses a profile that breaks these rules, naming the file and the
chmod or chown that fixes it, and serves the others; kk-monitor check and kk-monitor status say the same.

On a client every file must be the user's own, mode 0600 or stricter; kk-client names the chmod that fixes it.`},
			{Title: "STATE", Text: `
kk-monitor writes only ` + config.DefaultStateDir + `/NAME/counter (state_dir), under a lock on its directory; the
directory is kk-monitor.service's StateDirectory=, 0700 and the knockknock user's. The first time kk-monitor
loads a profile that has no counter there, it copies the profile's own counter file, which it only reads,
into it ("taken over"); from then on only the state counter counts. To move a server, copy
` + config.DefaultStateDir + ` along with /etc/knockknock.d.`},
			{Title: "CLIENT FILES", Text: `
A client keeps each server's profile in ~/.knockknock/HOST/, HOST written as given to kk-client -s (an IPv6
address without brackets), with the same four files copied from the server, each mode 0600 and the user's
own; kk-client -d DIR reads another directory. kk-client moves the counter under a lock, so kk-client and
kk-client proxy may knock at the same time.

~/.knockknock/proxy-credentials holds the user name and password of kk-client proxy's SOCKS5 server, one
line "kk:" and 32 hex digits, mode 0600; the proxy writes it at its first start and refuses to start if others
can read it.`},
			{Title: "FILES", Entries: []manual.Entry{
				{Term: config.DefaultPath, Text: "kk-monitor's configuration."},
				{Term: config.DefaultProfilesDir, Text: "The server's profiles, one directory each."},
				{Term: config.DefaultStateDir, Text: "kk-monitor's counters."},
				{Term: "~/.knockknock", Text: "A client's profiles and the proxy's credentials."},
			}},
			{Title: "SEE ALSO", Text: "kk-monitor(8), kk-firewall(8), kk-client(1)"},
		},
	}
}

// runHelp prints a manual page or a command's usage.
func runHelp(f flags, args []string, w io.Writer) error {
	if len(args) > 1 {
		return fmt.Errorf("%w: help takes at most one topic", errUsage)
	}
	topic := "kk-monitor"
	if len(args) == 1 {
		topic = args[0]
	}
	var page *manual.Page
	switch topic {
	case "kk-monitor":
		page = monitorPage()
	case "knockknock.conf":
		page = confPage()
	default:
		if !isCommand(topic) {
			return fmt.Errorf("%w: no help on %q: name kk-monitor, knockknock.conf or one of the commands %s",
				errUsage, topic, strings.Join(commands, ", "))
		}
		if f.roff {
			return fmt.Errorf("%w: --roff prints a whole page: kk-monitor or knockknock.conf", errUsage)
		}
		usagePage(topic).Usage(w)
		return nil
	}
	if f.roff {
		page.Roff(w, version.String())
	} else {
		page.Text(w)
	}
	return nil
}

func isCommand(s string) bool {
	for _, c := range commands {
		if c == s {
			return true
		}
	}
	return false
}
