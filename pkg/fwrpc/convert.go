package fwrpc

import (
	"fmt"
	"math"
	"net/netip"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kk-project/kk/pkg/firewall"
	fwpb "github.com/kk-project/kk/proto/knockknock/firewall/v1"
)

func parseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: source_ip %q is not an IP address", firewall.ErrInvalid, clip(s))
	}
	return ip, nil
}

func parsePort(p uint32) (uint16, error) {
	if p == 0 || p > math.MaxUint16 {
		return 0, fmt.Errorf("%w: port %d is outside 1-65535", firewall.ErrInvalid, p)
	}
	return uint16(p), nil
}

// maxSeconds keeps duration_seconds from overflowing time.Duration.
const maxSeconds = int64(math.MaxInt64 / int64(time.Second))

func requestFromProto(r *fwpb.OpenRequest) (firewall.OpenRequest, error) {
	ip, err := parseIP(r.GetSourceIp())
	if err != nil {
		return firewall.OpenRequest{}, err
	}
	port, err := parsePort(r.GetPort())
	if err != nil {
		return firewall.OpenRequest{}, err
	}
	secs := r.GetDurationSeconds()
	if secs <= 0 { // checked here: a large negative value wraps positive once multiplied
		return firewall.OpenRequest{}, fmt.Errorf("%w: duration_seconds %d must be positive", firewall.ErrInvalid, secs)
	}
	if secs > maxSeconds {
		return firewall.OpenRequest{}, fmt.Errorf("%w: duration_seconds %d is too large", firewall.ErrInvalid, secs)
	}
	return firewall.OpenRequest{IP: ip, Port: port, Duration: time.Duration(secs) * time.Second, Profile: r.GetProfile()}, nil
}

// requestToProto rounds the duration up to whole seconds, since deadlines
// have one-second resolution.
func requestToProto(r firewall.OpenRequest) *fwpb.OpenRequest {
	secs := int64(r.Duration / time.Second)
	if r.Duration%time.Second > 0 {
		secs++
	}
	return &fwpb.OpenRequest{SourceIp: ipString(r.IP), Port: uint32(r.Port), DurationSeconds: secs, Profile: r.Profile}
}

func ipString(ip netip.Addr) string {
	if !ip.IsValid() {
		return ""
	}
	return ip.String()
}

func openingToProto(o firewall.Opening) *fwpb.Opening {
	return &fwpb.Opening{SourceIp: ipString(o.IP), Port: uint32(o.Port), Deadline: timestamppb.New(o.Deadline), Profile: o.Profile}
}

func openingFromProto(o *fwpb.Opening) (firewall.Opening, error) {
	ip, err := netip.ParseAddr(o.GetSourceIp())
	if err != nil {
		return firewall.Opening{}, fmt.Errorf("kk-firewall sent opening with bad source_ip %q", o.GetSourceIp())
	}
	if o.GetPort() > math.MaxUint16 {
		return firewall.Opening{}, fmt.Errorf("kk-firewall sent opening with bad port %d", o.GetPort())
	}
	return firewall.Opening{IP: ip, Port: uint16(o.GetPort()), Deadline: o.GetDeadline().AsTime(), Profile: o.GetProfile()}, nil
}
