package kernlog

import (
	"errors"
	"io/fs"
	"syscall"
	"testing"
)

func TestNetnsLogging(t *testing.T) {
	file := func(data string, err error) func(string) ([]byte, error) {
		return func(name string) ([]byte, error) {
			if name != NetnsLogPath {
				t.Fatalf("read %s, want %s", name, NetnsLogPath)
			}
			return []byte(data), err
		}
	}
	tests := []struct {
		name    string
		read    func(string) ([]byte, error)
		on      bool
		wantErr error
	}{
		{"off", file("0\n", nil), false, nil},
		{"on", file("1\n", nil), true, nil},
		{"private network namespace", file("", &fs.PathError{Op: "open", Path: NetnsLogPath, Err: syscall.ENOENT}), false, ErrNetnsLogHidden},
		{"unreadable", file("", syscall.EACCES), false, syscall.EACCES},
		{"garbage", file("yes\n", nil), false, errors.New("")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			on, err := NetnsLogging(tt.read)
			if on != tt.on || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("NetnsLogging = %v, %v; want %v, %v", on, err, tt.on, tt.wantErr)
			}
			if tt.wantErr != nil && tt.wantErr.Error() != "" && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v is not %v", err, tt.wantErr)
			}
		})
	}
}
