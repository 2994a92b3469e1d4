package syn

import (
	"math/rand/v2"
)

// EphemeralPort returns a random port from the kernel's ephemeral range, so
// the knock looks like an ordinary outgoing connection attempt.
func EphemeralPort() uint16 {
	lo, hi := portRange()
	return uint16(lo + rand.IntN(hi-lo+1))
}
