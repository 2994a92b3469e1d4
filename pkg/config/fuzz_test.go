package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad loads arbitrary config files. Every accepted file yields values
// inside the documented ranges; every refused one gets an error naming the
// file.
func FuzzLoad(f *testing.F) {
	f.Add([]byte("[main]\ndelay = 15\nerror_window = 20\n\n"))
	f.Add([]byte("[main]\ndelay=0\n"))
	f.Add([]byte("[main]\nlog_source = journald\nlog_prefix = \"KNOCK \"\n"))
	f.Add([]byte("[main]\nlog_source = auto\n"))
	f.Add([]byte("[other]\nx: y\n[main]\nerror_window: 10000\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(t.TempDir(), "config")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, found, err := Load(path)
		if !found {
			t.Fatal("existing file reported missing")
		}
		if err != nil {
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if cfg.Delay <= 0 || cfg.Delay.Seconds() > MaxDelay || cfg.ErrorWindow < 1 || cfg.ErrorWindow > MaxErrorWindow {
			t.Fatalf("accepted out-of-range values: %+v", cfg)
		}
		if cfg.LogPrefix == "" || (cfg.LogSource != SourceAuto && cfg.LogSource != SourceFile && cfg.LogSource != SourceJournald) {
			t.Fatalf("accepted bad values: %+v", cfg)
		}
	})
}
