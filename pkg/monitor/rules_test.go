package monitor

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/profile"
)

func TestFirewallRules(t *testing.T) {
	dir := t.TempDir()
	for name, port := range map[string]int{"b": 5555, "a": 4444} {
		if _, err := profile.Generate(dir, name, port); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "broken"), 0o700); err != nil {
		t.Fatal(err)
	}
	ports, errs := KnockPorts(dir)
	if got := JoinPorts(ports); got != "4444,5555" {
		t.Errorf("ports %q, want 4444,5555", got)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "broken") {
		t.Errorf("errors %v, want one naming broken", errs)
	}
	var b bytes.Buffer
	if err := WriteFirewallRules(&b, ports, "KNOCK it's ", 10, 20); err != nil {
		t.Fatal(err)
	}
	want := `iptables -N KK_KNOCKLOG
iptables -A KK_KNOCKLOG -p tcp --syn -m hashlimit --hashlimit-mode srcip --hashlimit-upto 10/sec --hashlimit-burst 20 --hashlimit-name kk_knock4 --hashlimit-htable-expire 2000 --hashlimit-htable-size 32768 --hashlimit-htable-max 262144 -j LOG --log-level debug --log-tcp-sequence --log-tcp-options --log-ip-options --log-prefix 'KNOCK it'\''s '
iptables -A KK_KNOCKLOG -p tcp -j REJECT --reject-with tcp-reset
iptables -A KK_KNOCKLOG -j REJECT
iptables -A KK_INPUT -p tcp --dport 4444 -j KK_KNOCKLOG
iptables -A KK_INPUT -p tcp --dport 5555 -j KK_KNOCKLOG
`
	if b.String() != want {
		t.Errorf("rules:\n%s\nwant:\n%s", b.String(), want)
	}
}
