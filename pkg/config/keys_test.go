package config

import (
	"strings"
	"testing"
)

// TestKeysDefaultsAreTheDefaults: a file that sets every key of Keys to its
// documented default loads as Default(), so the manual's defaults are the
// real ones.
func TestKeysDefaultsAreTheDefaults(t *testing.T) {
	var b strings.Builder
	b.WriteString("[main]\n")
	for _, k := range Keys {
		if k.Doc == "" || k.Default == "" {
			t.Errorf("key %s has no Doc or Default for the manual", k.Name)
		}
		b.WriteString(k.Name + " = " + k.Default + "\n")
	}
	cfg, _, unknown, err := LoadUnknown(writeConfig(t, b.String()))
	if err != nil || len(unknown) > 0 {
		t.Fatalf("LoadUnknown: unknown %v, err %v", unknown, err)
	}
	if cfg != Default() {
		t.Errorf("the documented defaults load as %+v, want %+v", cfg, Default())
	}
}

// TestEveryKeyIsApplied: each key of Keys, set alone to another valid value,
// changes the configuration, so no documented key is ignored by the parser.
func TestEveryKeyIsApplied(t *testing.T) {
	other := map[string]string{
		"delay": "30", "error_window": "5", "log_source": "file", "log_file": "/tmp/k.log",
		"log_prefix": `"KNOCK "`, "socket": "/tmp/fw.sock", "state_dir": "/tmp/state",
	}
	for _, k := range Keys {
		v, ok := other[k.Name]
		if !ok {
			t.Errorf("key %s: add a non-default value to this test", k.Name)
			continue
		}
		cfg, _, err := Load(writeConfig(t, "[main]\n"+k.Name+" = "+v+"\n"))
		if err != nil {
			t.Errorf("%s = %s: %v", k.Name, v, err)
			continue
		}
		if cfg == Default() {
			t.Errorf("%s = %s left the configuration at the defaults", k.Name, v)
		}
	}
	if len(other) != len(Keys) {
		t.Errorf("this test knows %d keys, Keys has %d", len(other), len(Keys))
	}
}

func TestUnknownKeysAreListed(t *testing.T) {
	cfg, found, unknown, err := LoadUnknown(writeConfig(t, "[main]\ndealy = 30\ndelay = 20\nZeta = 1\n[other]\nx = 1\n"))
	if err != nil || !found {
		t.Fatalf("found %v, err %v", found, err)
	}
	if strings.Join(unknown, ",") != "dealy,zeta" {
		t.Errorf("unknown = %q, want dealy and zeta (keys are lower-cased; other sections are not kk-monitor's)", unknown)
	}
	if cfg.Delay.Seconds() != 20 {
		t.Errorf("delay = %v, want 20s", cfg.Delay)
	}
}

func TestEffectiveOverrides(t *testing.T) {
	c := Default()
	eff, reason := c.Effective(Overrides{LogFile: "/tmp/x.log", Socket: "/tmp/s", StateDir: "/tmp/st"}, nil)
	if eff.LogSource != SourceFile || eff.LogFile != "/tmp/x.log" || reason != "--log /tmp/x.log" ||
		eff.Socket != "/tmp/s" || eff.StateDir != "/tmp/st" {
		t.Errorf("Effective = %+v, %q", eff, reason)
	}
	c.LogSource = SourceJournald
	if eff, reason := c.Effective(Overrides{}, nil); eff.LogSource != SourceJournald || reason != "log_source = journald" ||
		eff.StateDir != DefaultStateDir {
		t.Errorf("Effective without overrides = %+v, %q", eff, reason)
	}
}
