package profile

import (
	"fmt"

	"github.com/kk-project/kk/pkg/ini"
)

// VersionKey is the config key, in [main], that selects the knock format:
// 1 (the original's, the default) or 2 (bound to the sender's address; see
// package knock). Editing it switches a profile; the counter is kept.
const VersionKey = "version"

// versionOf returns the version set in the profile config f, read from
// path; absent means 1.
func versionOf(path string, f ini.File) (int, error) {
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
