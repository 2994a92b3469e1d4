package main

import (
	"fmt"
	"os"

	"github.com/kk-project/kk/pkg/check"
)

// runStatus prints what kk-monitor serves with these flags: the
// configuration, the log source and each profile. It exits 1 if anything
// is broken, after printing everything else.
func runStatus(f flags, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: status takes no arguments", errUsage)
	}
	r := check.StatusReport(check.StatusOptions{ConfigPath: f.config, ProfilesDir: f.profiles, StateDir: f.state})
	write := r.WriteText
	if f.json {
		write = r.WriteJSON
	}
	if err := write(os.Stdout); err != nil {
		return fmt.Errorf("writing the status: %w", err)
	}
	if r.Broken() {
		if f.json {
			return fmt.Errorf("status: something is broken or could not be read: see the error fields")
		}
		return fmt.Errorf("status: something is broken or could not be read: see the BROKEN and NOT READ lines")
	}
	return nil
}
