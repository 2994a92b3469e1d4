package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/kk-project/kk/pkg/firewall"
	"github.com/kk-project/kk/pkg/fwrpc"
)

// jsonOpening is one opening in list --json's output. The field names are
// part of the interface the manual documents: add fields, never rename.
type jsonOpening struct {
	SourceIP    string    `json:"source_ip"`
	Family      string    `json:"family"`
	Protocol    string    `json:"protocol"`
	Port        uint16    `json:"port"`
	Profile     string    `json:"profile"`
	Deadline    time.Time `json:"deadline"`
	SecondsLeft int64     `json:"seconds_left"`
}

// family names the address family of ip as iptables' front ends do.
func family(ip netip.Addr) string {
	if ip.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

func toJSON(o firewall.Opening, now time.Time) jsonOpening {
	left := max(0, int64(o.Deadline.Sub(now).Round(time.Second)/time.Second))
	return jsonOpening{SourceIP: o.IP.String(), Family: family(o.IP), Protocol: "tcp", Port: o.Port,
		Profile: o.Profile, Deadline: o.Deadline.UTC(), SecondsLeft: left}
}

func listCommand(args []string, stdout, stderr io.Writer) int {
	var a adminOptions
	rest, code := parseArgs(adminFlags("kk-firewall list", &a), args, stdout, stderr)
	switch {
	case code >= 0:
		return code
	case len(rest) > 0:
		return usageError(stderr, fmt.Errorf("list takes no arguments, got %q", rest))
	}
	var openings []firewall.Opening
	err := withClient(a, func(ctx context.Context, c *fwrpc.Client) (err error) {
		openings, err = c.List(ctx)
		return err
	})
	if err != nil {
		return fail(stderr, err)
	}
	now := time.Now()
	if a.json {
		out := struct {
			Openings []jsonOpening `json:"openings"`
		}{Openings: []jsonOpening{}}
		for _, o := range openings {
			out.Openings = append(out.Openings, toJSON(o, now))
		}
		return writeJSON(stdout, stderr, out)
	}
	writeTable(stdout, openings, now)
	return exitOK
}

// writeTable prints openings for a person: one line each under a header, or
// "no openings".
func writeTable(w io.Writer, openings []firewall.Opening, now time.Time) {
	if len(openings) == 0 {
		fmt.Fprintln(w, "no openings")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tFAMILY\tPROTO\tPORT\tPROFILE\tUNTIL (UTC)\tLEFT")
	for _, o := range openings {
		left := "expiring"
		if d := o.Deadline.Sub(now).Round(time.Second); d > 0 {
			left = d.String()
		}
		profile := o.Profile
		if profile == "" {
			profile = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\ttcp\t%d\t%s\t%s\t%s\n", o.IP, family(o.IP), o.Port, profile,
			o.Deadline.UTC().Format(time.DateTime), left)
	}
	tw.Flush()
}

func revokeCommand(args []string, stdout, stderr io.Writer) int {
	var a adminOptions
	rest, code := parseArgs(adminFlags("kk-firewall revoke", &a), args, stdout, stderr)
	switch {
	case code >= 0:
		return code
	case len(rest) != 2:
		return usageError(stderr, fmt.Errorf("revoke takes an address and a port (kk-firewall revoke IP PORT), got %q", rest))
	}
	ip, port, err := parseOpening(rest[0], rest[1])
	if err != nil {
		return usageError(stderr, err)
	}
	err = withClient(a, func(ctx context.Context, c *fwrpc.Client) error { return c.Revoke(ctx, ip, port) })
	if errors.Is(err, firewall.ErrNotFound) {
		err = notFoundError{ip, port}
	}
	if err != nil {
		return fail(stderr, err)
	}
	if a.json {
		out := struct {
			Revoked struct {
				SourceIP string `json:"source_ip"`
				Family   string `json:"family"`
				Protocol string `json:"protocol"`
				Port     uint16 `json:"port"`
			} `json:"revoked"`
		}{}
		out.Revoked.SourceIP, out.Revoked.Family, out.Revoked.Protocol, out.Revoked.Port = ip.String(), family(ip), "tcp", port
		return writeJSON(stdout, stderr, out)
	}
	fmt.Fprintf(stdout, "revoked %s port %d\n", ip, port)
	return exitOK
}

// parseOpening parses revoke's IP and PORT arguments.
func parseOpening(ipArg, portArg string) (netip.Addr, uint16, error) {
	ip, err := netip.ParseAddr(ipArg)
	if err != nil || ip.Zone() != "" {
		return netip.Addr{}, 0, fmt.Errorf("revoke: %q is not an IPv4 or IPv6 address", ipArg)
	}
	port, err := strconv.ParseUint(portArg, 10, 16)
	if err != nil || port == 0 {
		return netip.Addr{}, 0, fmt.Errorf("revoke: %q is not a TCP port in 1-65535", portArg)
	}
	return ip.Unmap(), uint16(port), nil
}

// withClient connects to a.socket and calls f within a.timeout; errors say
// what to do about them.
func withClient(a adminOptions, f func(context.Context, *fwrpc.Client) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.timeout)
	defer cancel()
	c, err := fwrpc.DialAdmin(ctx, a.socket)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := f(ctx, c); err != nil {
		return fwrpc.ExplainAdminError(a.socket, err)
	}
	return nil
}

func writeJSON(stdout, stderr io.Writer, v any) int {
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fail(stderr, fmt.Errorf("writing JSON: %w", err))
	}
	return exitOK
}

// notFoundError is revoke's answer to NOT_FOUND, without the RPC's words.
type notFoundError struct {
	ip   netip.Addr
	port uint16
}

func (e notFoundError) Error() string {
	return fmt.Sprintf("kk-firewall has no opening for %s port %d (kk-firewall list shows the openings)", e.ip, e.port)
}

func (notFoundError) Unwrap() error { return firewall.ErrNotFound }
