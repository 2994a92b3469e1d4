#!/bin/sh
# gen.sh: writes the iptables-S-*.txt files here from real `iptables -S`
# output, each taken in a throwaway network namespace so the host's own rules
# are never touched. Run as root from the repository root:
#   sh pkg/check/testdata/gen.sh
set -eu

out=$(cd "$(dirname "$0")" && pwd)
fw=firewall/knockknock-firewall.sh
ns=kkchk-gen-$$
ip netns add "$ns"
trap 'ip netns del "$ns"' EXIT
in_ns() { ip netns exec "$ns" "$@"; }
save() { in_ns iptables -S >"$out/iptables-S-$1.txt"; }
fresh() { in_ns sh "$fw" -4 stop; in_ns iptables -P INPUT ACCEPT; in_ns sh "$fw" -4 "$@" start; }

# The shipped rules, with a public port.
fresh -k 6666 -a 22
save shipped
# kk-firewall's chain at INPUT position 1, holding openings for single
# sources, one of them on the knock port itself.
in_ns iptables -N KNOCKKNOCK
in_ns iptables -I INPUT 1 -j KNOCKKNOCK
in_ns iptables -A KNOCKKNOCK -s 192.0.2.7 -p tcp --dport 22 -m conntrack --ctstate NEW \
	-m limit --limit 1/day --limit-burst 1 -m time --datestop 2026-11-26T12:00:04 \
	-m comment --comment "knockknock deadline=2026-11-26T12:00:05Z profile=lab" -j ACCEPT
in_ns iptables -A KNOCKKNOCK -s 192.0.2.8 -p tcp --dport 6666 -j ACCEPT
save opening
in_ns iptables -D INPUT -j KNOCKKNOCK
in_ns iptables -F KNOCKKNOCK
in_ns iptables -X KNOCKKNOCK
# Two knock ports.
fresh -k 6666,7777
save two-ports
# The LOG rule gone from KK_KNOCKLOG: the knock is rejected unlogged.
in_ns iptables -D KK_KNOCKLOG 1
save no-knock-log
# The knock port's jump gone: only the global, rate-limited LOG sees it.
fresh -k 6666
in_ns iptables -D KK_INPUT -p tcp --dport 6666 -j KK_KNOCKLOG
save no-jump
# Another prefix than the monitor's.
fresh -k 6666 -l "DROP "
save other-prefix
# A host rule ahead of kk's that drops a port range holding the knock port.
fresh -k 6666
in_ns iptables -I INPUT 1 -p tcp -m multiport --dports 6000:7000 -j DROP
save dropped-first
# A LOG rule without --log-tcp-sequence, then a DROP policy and no jump.
in_ns sh "$fw" -4 stop
in_ns iptables -F INPUT
in_ns iptables -P INPUT DROP
in_ns iptables -A INPUT -i lo -j ACCEPT
in_ns iptables -A INPUT -p tcp --syn --dport 6666 -j LOG --log-prefix "REJECT "
save no-sequence
# kk's chains loaded, but INPUT's jump to KK_INPUT removed.
in_ns iptables -F INPUT
in_ns iptables -P INPUT ACCEPT
fresh -k 6666
in_ns iptables -D INPUT -j KK_INPUT
save no-input-jump
# Nothing loaded.
in_ns sh "$fw" -4 stop
save empty
# A hand-written firewall: goto, negations, a per-interface jump and a
# prefix holding a quote.
in_ns iptables -N knock
in_ns iptables -N logit
in_ns iptables -A INPUT ! -i lo -p tcp ! --dport 22 -g knock
in_ns iptables -A INPUT -j ACCEPT
in_ns iptables -A knock -s 10.0.0.0/8 -j RETURN
in_ns iptables -A knock -m state --state ESTABLISHED -j ACCEPT
in_ns iptables -A knock -i eth0 -p tcp -m tcp --tcp-flags SYN,ACK SYN -j logit
in_ns iptables -A knock -j DROP
in_ns iptables -A logit -j LOG --log-prefix 'kk "x" ' --log-tcp-sequence
save hand-written
