package ini

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, section, key, want string
	}{
		{"configparser spacing", "[main]\nknock_port = 666\n\n", "main", "knock_port", "666"},
		{"no spaces", "[main]\nknock_port=666\n", "main", "knock_port", "666"},
		{"colon", "[main]\nDelay: 15\n", "main", "delay", "15"},
		{"comments", "# c\n; c\n[main]\n# x = 1\nerror_window = 20\n", "main", "error_window", "20"},
		{"crlf", "[main]\r\ndelay = 9\r\n", "main", "delay", "9"},
		{"value with spaces", "[main]\nlog_prefix = REJECT \n", "main", "log_prefix", "REJECT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("test", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			got, ok := f.Get(tt.section, tt.key)
			if !ok || got != tt.want {
				t.Fatalf("Get(%q, %q) = %q, %v; want %q", tt.section, tt.key, got, ok, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"key before section", "delay = 1\n", "test:1: \"delay\" appears before any [section]"},
		{"bad header", "[main\n", "test:1: malformed section header"},
		{"empty header", "[]\n", "test:1: malformed section header"},
		{"no separator", "[main]\njunk\n", "test:2: expected"},
		{"empty key", "[main]\n= 3\n", "test:2: expected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("test", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}
