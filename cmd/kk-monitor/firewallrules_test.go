package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/profile"
)

// TestFirewallRulesReadsOnlyConfig: knockknock-firewall.sh runs
// firewall-rules to learn the knock ports. With the profile's counter a
// symlink to a secret file, it still prints the port, and neither its
// output nor its errors show the secret: it reads only config files.
func TestFirewallRulesReadsOnlyConfig(t *testing.T) {
	const secret = "root:$6$CANARY-SHADOW-LINE:19000:0:99999:7:::"
	dir := t.TempDir()
	canary := filepath.Join(dir, "shadow")
	must(t, os.WriteFile(canary, []byte(secret+"\n"), 0o600))
	profiles := filepath.Join(dir, "profiles")
	p, err := profile.Generate(profiles, "web", 4444)
	must(t, err)
	counter := filepath.Join(p.Dir, profile.CounterFile)
	must(t, os.Remove(counter))
	must(t, os.Symlink(canary, counter))

	cmd := exec.Command(binary, "firewall-rules", "--profiles", profiles)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("firewall-rules: %v\n%s", err, stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != "4444" {
		t.Errorf("knock ports %q, want 4444", got)
	}
	if strings.Contains(stdout.String()+stderr.String(), "CANARY") {
		t.Errorf("firewall-rules showed the counter's target:\n%s%s", stdout.String(), stderr.String())
	}
}
