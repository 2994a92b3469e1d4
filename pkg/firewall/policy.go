package firewall

import (
	"fmt"
	"net/netip"
	"time"
)

// Defaults for a Policy's zero fields.
const (
	// DefaultMaxDuration is the longest opening allowed when
	// Policy.MaxDuration is zero.
	DefaultMaxDuration = 300 * time.Second
	// DefaultMaxOpenings is the number of live openings allowed when
	// Policy.MaxOpenings is zero.
	DefaultMaxOpenings = 1024
	// MaxOpeningDuration is the longest MaxDuration a Policy may have. It
	// is well under the rule's limit period (a day), which is what keeps
	// an opening to one new connection.
	MaxOpeningDuration = 12 * time.Hour
	// MaxProfileLen is the longest profile name accepted.
	MaxProfileLen = 64
)

// A Policy decides which requests a Manager accepts. The zero value accepts
// any non-loopback unicast address, any port, durations up to
// DefaultMaxDuration and DefaultMaxOpenings live openings. A Policy must not
// be changed while a Manager uses it.
type Policy struct {
	// AllowLoopback admits loopback source addresses; only tests need it.
	AllowLoopback bool
	// AllowPorts, when not empty, is the only set of ports that may be opened.
	AllowPorts []uint16
	// MaxDuration is the longest opening; zero means DefaultMaxDuration.
	// Values over MaxOpeningDuration count as MaxOpeningDuration.
	MaxDuration time.Duration
	// MaxOpenings is the number of live openings allowed; zero means
	// DefaultMaxOpenings.
	MaxOpenings int
}

// Validate reports why req is refused, as an error wrapping ErrInvalid, or
// nil if it is acceptable. It does not check the number of openings.
func (p *Policy) Validate(req OpenRequest) error {
	if err := p.ValidateTarget(req.IP, req.Port); err != nil {
		return err
	}
	if req.Duration <= 0 {
		return fmt.Errorf("%w: duration %v must be positive", ErrInvalid, req.Duration)
	}
	if req.Duration > p.maxDuration() {
		return fmt.Errorf("%w: duration %v is over the maximum %v (--max-duration)", ErrInvalid, req.Duration, p.maxDuration())
	}
	return ValidateProfile(req.Profile)
}

// ValidateTarget reports why ip and port may not be opened (or revoked), as
// an error wrapping ErrInvalid, or nil.
func (p *Policy) ValidateTarget(ip netip.Addr, port uint16) error {
	if err := p.validateIP(ip); err != nil {
		return err
	}
	if port == 0 {
		return fmt.Errorf("%w: port 0 is outside 1-65535", ErrInvalid)
	}
	if len(p.AllowPorts) > 0 && !p.portAllowed(port) {
		return fmt.Errorf("%w: port %d is not in --allow-ports %v", ErrInvalid, port, p.AllowPorts)
	}
	return nil
}

func (p *Policy) validateIP(ip netip.Addr) error {
	switch {
	case !ip.IsValid():
		return fmt.Errorf("%w: no source address", ErrInvalid)
	case ip.Zone() != "":
		return fmt.Errorf("%w: source address %s has a zone", ErrInvalid, ip)
	case ip.Is4In6():
		return fmt.Errorf("%w: source address %s is IPv4-mapped; send it as IPv4", ErrInvalid, ip)
	case ip.IsUnspecified():
		return fmt.Errorf("%w: source address %s is unspecified", ErrInvalid, ip)
	case ip.IsMulticast():
		return fmt.Errorf("%w: source address %s is multicast", ErrInvalid, ip)
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("%w: source address %s is broadcast", ErrInvalid, ip)
	case ip.IsLoopback() && !p.AllowLoopback:
		return fmt.Errorf("%w: source address %s is loopback (allowed only with --allow-loopback)", ErrInvalid, ip)
	}
	return nil
}

func (p *Policy) portAllowed(port uint16) bool {
	for _, a := range p.AllowPorts {
		if a == port {
			return true
		}
	}
	return false
}

func (p *Policy) maxDuration() time.Duration {
	if p.MaxDuration > 0 {
		return min(p.MaxDuration, MaxOpeningDuration)
	}
	return DefaultMaxDuration
}

// Limit returns the number of live openings allowed.
func (p *Policy) Limit() int {
	if p.MaxOpenings > 0 {
		return p.MaxOpenings
	}
	return DefaultMaxOpenings
}

// ValidateProfile reports why name is not an acceptable profile name, as an
// error wrapping ErrInvalid, or nil. An empty name is accepted. Names are
// limited to MaxProfileLen characters from [A-Za-z0-9._-] because they are
// recorded in a firewall rule's comment.
func ValidateProfile(name string) error {
	if len(name) > MaxProfileLen {
		return fmt.Errorf("%w: profile name is %d bytes, over the maximum %d", ErrInvalid, len(name), MaxProfileLen)
	}
	for _, c := range []byte(name) {
		if !profileByte(c) {
			return fmt.Errorf("%w: profile name %q has character %q outside [A-Za-z0-9._-]", ErrInvalid, name, c)
		}
	}
	return nil
}

// ProfileLabel maps a profile's directory name to a name ValidateProfile
// accepts: bytes outside [A-Za-z0-9._-] become '_' and the result is cut to
// MaxProfileLen. Profiles copied from an original knockknock install may
// have any name; the label only tags the rule and the audit log.
func ProfileLabel(name string) string {
	b := []byte(name)
	if len(b) > MaxProfileLen {
		b = b[:MaxProfileLen]
	}
	for i, c := range b {
		if !profileByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

func profileByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}
