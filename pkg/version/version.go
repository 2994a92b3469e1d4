// Package version reports the version a kk binary was built as.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version is set at link time by the Makefile from `git describe`:
//
//	-ldflags "-X github.com/kk-project/kk/pkg/version.Version=v0.2.0-3-gabc1234"
//
// When it is empty, String falls back to the module's build information.
var Version string

// String returns the version: the linked-in Version, else the module version
// or VCS revision recorded by the Go toolchain, else "devel".
func String() string {
	if Version != "" {
		return Version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return fromBuildInfo(bi)
}

func fromBuildInfo(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return "devel-" + rev
}

// Line returns the line each binary's --version prints, such as
// "kk-monitor v0.2.0 (go1.26.8 linux/amd64)".
func Line(prog string) string {
	return fmt.Sprintf("%s %s (%s %s/%s)", prog, String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
