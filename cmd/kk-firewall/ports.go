package main

import (
	"log/slog"

	"github.com/kk-project/kk/pkg/profile"
)

// portsFromProfiles is the --allow-ports value that allows the union of the
// profiles' allowed_ports.
const portsFromProfiles = "profiles"

// allowedPorts returns the ports --allow-ports allows; nil means any. With
// --allow-ports=profiles it reads allowed_ports from the config file of
// every profile in profilesDir, through pkg/profile's readers (no symlink,
// no FIFO, regular files of root or knockknock only), once at start: an
// edited allowed_ports counts from kk-firewall's next start. A profile
// without allowed_ports may open any port, so then any port is allowed, with
// a warning naming it.
func allowedPorts(flagValue, profilesDir string, log *slog.Logger) ([]uint16, error) {
	if flagValue != portsFromProfiles {
		return parsePorts(flagValue)
	}
	ports, open, errs := profile.UnionAllowedPorts(profilesDir)
	for _, err := range errs {
		log.Warn("--allow-ports=profiles: profile left out: its ports may not be opened", "err", err)
	}
	if len(open) > 0 {
		log.Warn("--allow-ports=profiles: some profiles have no allowed_ports, so every port may be opened",
			"profiles", open, "fix", "add allowed_ports = PORT, ... to [main] in each profile's config, then: systemctl restart kk-firewall")
		return nil, nil
	}
	if len(ports) == 0 {
		log.Warn("--allow-ports=profiles: no profile found, so every port may be opened", "profiles", profilesDir)
		return nil, nil
	}
	log.Info("--allow-ports=profiles: only the profiles' allowed_ports may be opened", "ports", profile.FormatPorts(ports))
	return ports, nil
}
