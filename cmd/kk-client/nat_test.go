package main

import "testing"

// TestNATAddressFlag: a --nat-address that is not an address is a usage
// error naming the flag, for the knock and for the proxy.
func TestNATAddressFlag(t *testing.T) {
	p := newProfile(t, "server.example", 669)
	r := runCLI(t, nil, "-p", "22", "-s", "127.0.0.1", "-d", p.Dir, "--nat-address", "my.public.host")
	checkResult(t, r, 2, []string{`invalid value "my.public.host" for flag -nat-address: not an IP address`, "usage:"})
	r = runCLI(t, nil, "proxy", "--nat-address", "300.1.1.1", "0")
	checkResult(t, r, 2, []string{`flag -nat-address: not an IP address`})
	if c := counter(t, p); c != 0 {
		t.Errorf("counter %d after a usage error, want 0", c)
	}
}
