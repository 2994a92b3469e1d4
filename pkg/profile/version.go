package profile

import (
	"fmt"
	"path/filepath"

	"github.com/kk-project/kk/pkg/ini"
)

// VersionKey is the config key, in [main], that selects the knock format:
// 1 (the original's, the default) or 2 (bound to the sender's address; see
// package knock). Editing it switches a profile; the counter is kept.
const VersionKey = "version"

// readVersion reads version from the config file of the profile in dir;
// absent means 1.
func readVersion(dir string, pol policy) (int, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := readFile(path, pol, false)
	if err != nil {
		return 0, err
	}
	f, err := ini.Parse(path, data)
	if err != nil {
		return 0, fmt.Errorf("%s: %w: not an INI file with [main] knock_port = N", path, ErrCorrupt)
	}
	switch v, ok := f.Get("main", VersionKey); {
	case !ok || v == "1":
		return 1, nil
	case v == "2":
		return 2, nil
	default:
		return 0, fmt.Errorf("%s: %w: %s = %q: use 1 (the original format, default) or 2 (bound to the sender's address)",
			path, ErrCorrupt, VersionKey, v)
	}
}
