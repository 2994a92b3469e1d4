package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMissingFileIsDefaults(t *testing.T) {
	cfg, found, err := Load(filepath.Join(t.TempDir(), "absent"))
	if err != nil || found {
		t.Fatalf("Load = found %v, err %v; want defaults", found, err)
	}
	if cfg != Default() || cfg.Delay != 15*time.Second || cfg.ErrorWindow != 20 {
		t.Fatalf("cfg = %+v, want defaults", cfg)
	}
}

func TestOriginalConfigLoads(t *testing.T) {
	// As the original knockknock ships it (ConfigParser style).
	p := filepath.Join("..", "..", "testdata", "original", "etc", "knockknock.d", "config")
	cfg, found, err := Load(p)
	if err != nil || !found {
		t.Fatalf("Load(%s) = found %v, err %v", p, found, err)
	}
	if cfg.Delay != 15*time.Second || cfg.ErrorWindow != 20 {
		t.Fatalf("cfg = %+v", cfg)
	}
}

// TestShippedConfigLoads: the config make install puts in place is the
// defaults, written out.
func TestShippedConfigLoads(t *testing.T) {
	p := filepath.Join("..", "..", "systemd", "config.default")
	cfg, found, err := Load(p)
	if err != nil || !found {
		t.Fatalf("Load(%s) = found %v, err %v", p, found, err)
	}
	if cfg != Default() {
		t.Fatalf("cfg = %+v, want the defaults %+v", cfg, Default())
	}
}

func TestValues(t *testing.T) {
	p := writeConfig(t, "[main]\ndelay=30\nerror_window = 1000\nlog_source = journald\n"+
		"log_file = /tmp/k.log\nlog_prefix = \"KNOCK \"\nsocket=/tmp/fw.sock\nunknown_key = 1\n")
	cfg, _, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{30 * time.Second, 1000, SourceJournald, "/tmp/k.log", "KNOCK ", "/tmp/fw.sock", DefaultStateDir}
	if cfg != want {
		t.Fatalf("cfg = %+v, want %+v", cfg, want)
	}
}

// TestLogSources: auto is the default and each allowed value loads as
// written.
func TestLogSources(t *testing.T) {
	if got := Default().LogSource; got != SourceAuto {
		t.Errorf("default log_source %q, want %q", got, SourceAuto)
	}
	for _, v := range []string{SourceAuto, SourceFile, SourceJournald} {
		// The first line makes sure auto is read, not left as the default.
		cfg, _, err := Load(writeConfig(t, "[main]\nlog_source = journald\nlog_source = "+v+"\n"))
		if err != nil || cfg.LogSource != v {
			t.Errorf("log_source = %s: LogSource %q, err %v", v, cfg.LogSource, err)
		}
	}
}

func TestBadValues(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"delay not a number", "[main]\ndelay = soon\n", "delay = \"soon\": must be a whole number from 1 to 3600"},
		{"delay zero", "[main]\ndelay = 0\n", "delay = \"0\": must be a whole number from 1 to 3600"},
		{"delay too big", "[main]\ndelay = 3601\n", "from 1 to 3600"},
		{"window zero", "[main]\nerror_window = 0\n", "error_window = \"0\": must be a whole number from 1 to 10000"},
		{"window too big", "[main]\nerror_window = 10001\n", "from 1 to 10000"},
		{"window negative", "[main]\nerror_window = -5\n", "from 1 to 10000"},
		{"source", "[main]\nlog_source = syslog\n", `log_source = "syslog": must be "auto", "file" or "journald"`},
		{"source case", "[main]\nlog_source = Auto\n", `log_source = "Auto": must be "auto", "file" or "journald"`},
		{"relative log", "[main]\nlog_file = kern.log\n", "log_file = \"kern.log\": must be an absolute path"},
		{"empty prefix", "[main]\nlog_prefix = \"\"\n", "log_prefix is empty"},
		{"relative socket", "[main]\nsocket = fw.sock\n", "socket = \"fw.sock\""},
		{"not ini", "delay 5\n", "expected \"key = value\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeConfig(t, tt.body)
			_, found, err := Load(p)
			if err == nil || !found {
				t.Fatalf("Load = found %v, err %v; want an error", found, err)
			}
			if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to name %s and contain %q", err, p, tt.want)
			}
		})
	}
}
