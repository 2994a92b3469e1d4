package syn

import (
	"os"
	"strconv"
	"strings"
)

// portRangeFile holds the kernel's ephemeral port range.
const portRangeFile = "/proc/sys/net/ipv4/ip_local_port_range"

// Linux's default ephemeral range, used when portRangeFile is unreadable.
const (
	defaultPortLow  = 32768
	defaultPortHigh = 60999
)

func portRange() (lo, hi int) {
	b, err := os.ReadFile(portRangeFile)
	if err != nil {
		return defaultPortLow, defaultPortHigh
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return defaultPortLow, defaultPortHigh
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || lo > hi {
		return defaultPortLow, defaultPortHigh
	}
	return lo, hi
}
