package profile

import (
	"os"
	"strings"
)

// bootIDPath is where Linux gives a random ID, new on every boot. A test
// points it elsewhere to simulate a reboot.
var bootIDPath = "/proc/sys/kernel/random/boot_id"

// bootID returns this boot's ID, or "" if it cannot be read; the client then
// stores its counter durably before each send.
func bootID() string {
	b, err := os.ReadFile(bootIDPath)
	if err != nil {
		return ""
	}
	id := strings.TrimSpace(string(b))
	if id == "" || len(id) > 64 || strings.ContainsAny(id, " \t\n") {
		return ""
	}
	return id
}
