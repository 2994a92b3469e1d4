package firewall

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"sync"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/xt"
	"golang.org/x/sys/unix"
)

// nftWriter is the netlinkWriter for one family of the filter table that
// iptables-nft keeps in nf_tables ("ip filter" or "ip6 filter").
type nftWriter struct {
	mu    sync.Mutex
	netns int
	// conn keeps one netlink socket open (a fresh one per call costs about
	// 0.1 ms). After any error it is closed and the next call opens a new
	// one, so that no reply left unread, and no error the Conn keeps, can
	// be taken for the answer to a later request.
	conn  *nftables.Conn
	table *nftables.Table
	input *nftables.Chain
	// exprs builds a rule's expressions: ruleExprs, except in the test
	// that makes the start-up check fail on purpose.
	exprs func(Opening) []expr.Any
}

// newNFTWriter returns the netlinkWriter for v6's family in the network
// namespace netns refers to (0: the process's own).
func newNFTWriter(v6 bool, netns int) (*nftWriter, error) {
	fam := nftables.TableFamilyIPv4
	if v6 {
		fam = nftables.TableFamilyIPv6
	}
	t := &nftables.Table{Name: table, Family: fam}
	w := &nftWriter{
		netns: netns,
		table: t,
		input: &nftables.Chain{Name: "INPUT", Table: t},
		exprs: ruleExprs,
	}
	return w, w.do(func(*nftables.Conn) error { return nil })
}

// chainNamed returns the chain called name in w's table.
func (w *nftWriter) chainNamed(name string) *nftables.Chain {
	return &nftables.Chain{Name: name, Table: w.table}
}

// do runs f on the open connection, opening one first if needed, and
// drops the connection if f fails. w.mu must be held, except in
// newNFTWriter.
func (w *nftWriter) do(f func(c *nftables.Conn) error) error {
	if w.conn == nil {
		c, err := nftables.New(nftables.WithNetNSFd(w.netns), nftables.AsLasting())
		if err != nil {
			return fmt.Errorf("opening nf_tables netlink: %w", err)
		}
		w.conn = c
	}
	err := f(w.conn)
	if err != nil {
		w.conn.CloseLasting()
		w.conn = nil
	}
	return err
}

func (w *nftWriter) Append(chain string, o Opening) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.do(func(c *nftables.Conn) error {
		c.AddRule(&nftables.Rule{Table: w.table, Chain: w.chainNamed(chain), Exprs: w.exprs(o)})
		if err := c.Flush(); err != nil {
			return fmt.Errorf("appending rule to nf_tables chain %s %s: %w", w.table.Name, chain, err)
		}
		return nil
	})
}

func (w *nftWriter) JumpFirst() (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var rs []*nftables.Rule
	err := w.do(func(c *nftables.Conn) (err error) {
		rs, err = c.GetRules(w.table, w.input)
		return err
	})
	if err != nil || len(rs) == 0 {
		return false, err
	}
	first := rs[0].Exprs
	if len(first) != 2 || len(rs[0].UserData) != 0 {
		return false, nil
	}
	if _, ok := first[0].(*expr.Counter); !ok || !jumpsToChain(first[1]) {
		return false, nil
	}
	for _, r := range rs[1:] {
		for _, e := range r.Exprs {
			if jumpsToChain(e) {
				return false, nil
			}
		}
	}
	return true, nil
}

// jumpsToChain reports whether e is a jump or goto to Chain.
func jumpsToChain(e expr.Any) bool {
	v, ok := e.(*expr.Verdict)
	return ok && (v.Kind == expr.VerdictJump || v.Kind == expr.VerdictGoto) && v.Chain == Chain
}

func (w *nftWriter) Delete(chain string, o Opening) (int, error) {
	want, err := marshalExprs(w.table.Family, w.exprs(o))
	if err != nil {
		return 0, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	err = w.do(func(c *nftables.Conn) error {
		rs, err := c.GetRules(w.table, w.chainNamed(chain))
		if err != nil {
			return fmt.Errorf("listing nf_tables chain %s: %w", chain, err)
		}
		for _, r := range rs {
			got, err := marshalExprs(w.table.Family, r.Exprs)
			if err != nil || !bytes.Equal(got, want) {
				continue
			}
			if err := c.DelRule(r); err != nil {
				return err
			}
			n++
		}
		if n == 0 {
			return nil
		}
		if err := c.Flush(); err != nil {
			n = 0
			return fmt.Errorf("deleting rules from nf_tables chain %s: %w", chain, err)
		}
		return nil
	})
	return n, err
}

// marshalExprs encodes exprs as netlink sends them, counters zeroed, so
// that a rule read back from the kernel compares equal to the one
// written.
func marshalExprs(fam nftables.TableFamily, exprs []expr.Any) ([]byte, error) {
	var out []byte
	for _, e := range exprs {
		if _, ok := e.(*expr.Counter); ok {
			e = &expr.Counter{}
		}
		b, err := expr.Marshal(byte(fam), e)
		if err != nil {
			return nil, fmt.Errorf("encoding %T: %w", e, err)
		}
		out = append(out, b...)
	}
	return out, nil
}

// ruleExprs returns the nf_tables expressions of o's rule, exactly as
// iptables-nft 1.8 writes them for ruleSpec(o) (nft --debug=netlink shows
// them): -s, -p tcp and --dport become native loads and compares, -m
// limit a native limit, and conntrack, time and comment stay xtables
// matches run by the kernel's nft_compat, with the info structs the
// iptables extensions fill in; iptables-nft adds a counter before the
// verdict. The start-up check (probe) confirms that the iptables on the
// host reads this back as its own rule.
func ruleExprs(o Opening) []expr.Any {
	saddr, alen := uint32(12), uint32(4) // offsetof(struct iphdr, saddr)
	if o.IP.Is6() {
		saddr, alen = 8, 16 // offsetof(struct ipv6hdr, saddr)
	}
	port := make([]byte, 2)
	binary.BigEndian.PutUint16(port, o.Port)
	comment := xt.Comment(ruleComment(o))
	timeInfo := xtTimeInfo(uint32(o.Deadline.Add(-time.Second).Unix()))
	ctInfo := xtConntrackNew()
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: saddr, Len: alen},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: o.IP.AsSlice()},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, // tcphdr.dest
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: port},
		&expr.Match{Name: "conntrack", Rev: 3, Info: &ctInfo},
		&expr.Limit{Type: expr.LimitTypePkts, Rate: 1, Unit: expr.LimitTimeDay, Burst: 1},
		&expr.Match{Name: "time", Rev: 0, Info: &timeInfo},
		&expr.Match{Name: "comment", Rev: 0, Info: &comment},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// xtConntrackNew returns struct xt_conntrack_mtinfo3 (linux/netfilter/
// xt_conntrack.h) for --ctstate NEW, padded to XT_ALIGN as iptables sends
// it: eight 16-byte address unions, expires_min/max (u32), then u16
// l4proto, four ports, match_flags at 146, invert_flags, state_mask at 150,
// status_mask and four port highs; host byte order.
func xtConntrackNew() xt.Unknown {
	const (
		size         = 168
		matchFlags   = 146
		stateMask    = 150
		flagState    = 1 << 0 // XT_CONNTRACK_STATE
		stateNewMask = 1 << 3 // XT_CONNTRACK_STATE_BIT(IP_CT_NEW)
	)
	b := make([]byte, size)
	binary.NativeEndian.PutUint16(b[matchFlags:], flagState)
	binary.NativeEndian.PutUint16(b[stateMask:], stateNewMask)
	return b
}

// xtTimeInfo returns struct xt_time_info (linux/netfilter/xt_time.h) for
// --datestop at Unix second stop in UTC, as libxt_time fills it: every
// day-time, month-day and weekday matches, no flags (so no --kerneltz).
func xtTimeInfo(stop uint32) xt.Unknown {
	b := make([]byte, 24)
	binary.NativeEndian.PutUint32(b[0:], 0)           // date_start
	binary.NativeEndian.PutUint32(b[4:], stop)        // date_stop
	binary.NativeEndian.PutUint32(b[8:], 0)           // daytime_start
	binary.NativeEndian.PutUint32(b[12:], 86399)      // daytime_stop: XT_TIME_MAX_DAYTIME
	binary.NativeEndian.PutUint32(b[16:], 0xfffffffe) // monthdays_match: XT_TIME_ALL_MONTHDAYS
	b[20] = 0xfe                                      // weekdays_match: XT_TIME_ALL_WEEKDAYS
	return b
}
