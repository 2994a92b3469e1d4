package profile

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/kk-project/kk/pkg/ini"
	"github.com/kk-project/kk/pkg/knock"
)

// AllowedPortsKey is the optional key in a profile's config, [main]
// section, listing the only ports a knock may ask for: "22, 443". The
// original knockknock has no such key; a profile without it may ask for any
// port. Only a server reads it.
const AllowedPortsKey = "allowed_ports"

// ReadAllowedPorts reads allowed_ports from the config file of the server
// profile in dir, sorted and without repeats; nil means the key is absent
// and every port may be asked for. It reads no key and no counter.
func ReadAllowedPorts(dir string) ([]uint16, error) {
	path, f, err := readConfig(dir, shared)
	if err != nil {
		return nil, err
	}
	return allowedPortsOf(path, f)
}

// allowedPortsOf returns allowed_ports of the profile config f, read from
// path, as ReadAllowedPorts does.
func allowedPortsOf(path string, f ini.File) ([]uint16, error) {
	v, ok := f.Get("main", AllowedPortsKey)
	if !ok {
		return nil, nil
	}
	ports, err := ParsePorts(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s %v", path, ErrCorrupt, AllowedPortsKey, err)
	}
	return ports, nil
}

// ParsePorts parses a comma-separated list of 1 to knock.MaxSetPorts ports,
// as allowed_ports takes it, and returns them sorted without repeats.
func ParsePorts(v string) ([]uint16, error) {
	var ports []uint16
	for _, f := range strings.Split(v, ",") {
		f = strings.TrimSpace(f)
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("has %q, not a port from 1 to 65535 (write e.g. %s = 22, 443)", f, AllowedPortsKey)
		}
		ports = append(ports, uint16(n))
	}
	slices.Sort(ports)
	ports = slices.Compact(ports)
	if len(ports) > knock.MaxSetPorts {
		return nil, fmt.Errorf("lists %d ports, more than %d", len(ports), knock.MaxSetPorts)
	}
	return ports, nil
}

// FormatPorts formats ports as allowed_ports takes them: "22, 443".
func FormatPorts(ports []uint16) string {
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

// UnionAllowedPorts reads allowed_ports from every profile in profilesDir
// and returns their union, sorted. open names the profiles that have no
// allowed_ports, and so may ask for any port; a profile whose config cannot
// be read is left out with an error, as in KnockPorts.
func UnionAllowedPorts(profilesDir string) (ports []uint16, open []string, errs []error) {
	names, err := profileNames(profilesDir)
	if err != nil {
		return nil, nil, []error{err}
	}
	for _, name := range names {
		p, err := ReadAllowedPorts(filepath.Join(profilesDir, name))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("profile %s skipped: %w", name, err))
		case p == nil:
			open = append(open, name)
		default:
			ports = append(ports, p...)
		}
	}
	slices.Sort(ports)
	return slices.Compact(ports), open, errs
}
