package profile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/kk-project/kk/pkg/knock"
)

// originalDir is a profile exactly as the original knockknock-genprofile
// writes it (with the keys of the knock package's test vectors).
var originalDir = filepath.Join("..", "..", "testdata", "original", "etc", "knockknock.d", "profiles", "clement-laptop")

// copyProfile copies src into a fresh temporary directory named name.
func copyProfile(t testing.TB, src, name string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dst, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range Files {
		data, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestLoadOriginal(t *testing.T) {
	p, err := Load(copyProfile(t, originalDir, "clement-laptop"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "clement-laptop" || p.KnockPort != 666 {
		t.Fatalf("got name %q port %d", p.Name, p.KnockPort)
	}
	want := knock.Keys{
		Cipher: [16]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		MAC:    [16]byte{16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31},
	}
	if p.Keys != want {
		t.Fatalf("keys = %x, want %x", p.Keys, want)
	}
	if c, err := p.Counter(); err != nil || c != 0 {
		t.Fatalf("Counter = %d, %v", c, err)
	}
}

// TestOriginalKnockVector checks the whole sending path against the first
// test vector: a copied original profile at counter 0 sends exactly it.
func TestOriginalKnockVector(t *testing.T) {
	p, err := Load(copyProfile(t, originalDir, "myserver.com"))
	if err != nil {
		t.Fatal(err)
	}
	f, used, err := p.NextKnock(22)
	if err != nil {
		t.Fatal(err)
	}
	want := knock.Fields{ID: 50871, Seq: 242583973, Ack: 3096526092, Window: 31572}
	if used != 0 || f != want {
		t.Fatalf("NextKnock = %+v (counter %d), want %+v (counter 0)", f, used, want)
	}
	data, _ := os.ReadFile(filepath.Join(p.Dir, CounterFile))
	if string(data) != "1\n" {
		t.Fatalf("counter file = %q, want \"1\\n\"", data)
	}
}

func TestCorruptFiles(t *testing.T) {
	tests := []struct {
		name, file, body, want string
		notExist               bool
	}{
		{"empty counter", CounterFile, "", "empty", false},
		{"counter not a number", CounterFile, "12a\n", "not a decimal number", false},
		{"negative counter", CounterFile, "-1\n", "not a decimal number", false},
		{"counter too big", CounterFile, "4294967297\n", "past the largest counter", false},
		{"empty cipher key", CipherKeyFile, "\n", "empty", false},
		{"bad base64", CipherKeyFile, "not*base64\n", "not valid base64", false},
		{"short mac key", MACKeyFile, "AAECAwQFBgcICQoLDA0O\n", "key is 15 bytes, want 16", false},
		{"long mac key", MACKeyFile, "AAECAwQFBgcICQoLDA0ODxA=\n", "key is 17 bytes", false},
		{"config without port", ConfigFile, "[main]\n", "no knock_port", false},
		{"config bad port", ConfigFile, "[main]\nknock_port = 70000\n", "knock_port is not a number from 1 to 65535", false},
		{"config not ini", ConfigFile, "knock_port\n", "not an INI file", false},
		{"missing counter", CounterFile, "", "no such file", true},
		{"missing mac key", MACKeyFile, "", "no such file", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := copyProfile(t, originalDir, "p")
			path := filepath.Join(dir, tt.file)
			if tt.notExist {
				os.Remove(path)
			} else if err := os.WriteFile(path, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatal("Load accepted a damaged profile")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %q, want it to name %s and say %q", err, path, tt.want)
			}
			if tt.notExist != errors.Is(err, fs.ErrNotExist) || !tt.notExist != errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v: wrong kind", err)
			}
			if !tt.notExist {
				after, _ := os.ReadFile(path)
				if string(after) != tt.body {
					t.Fatalf("damaged file was rewritten to %q", after)
				}
			}
		})
	}
}

func TestCorruptCounterNotReplaced(t *testing.T) {
	dir := copyProfile(t, originalDir, "p")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, CounterFile)
	os.WriteFile(path, []byte("garbage\n"), 0o600)
	if _, _, err := p.NextKnock(22); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("NextKnock on corrupt counter: err = %v", err)
	}
	if err := p.Accept(5); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Accept on corrupt counter: err = %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "garbage\n" {
		t.Fatalf("counter rewritten to %q", data)
	}
}

func TestAcceptAndReplay(t *testing.T) {
	p, err := Load(copyProfile(t, originalDir, "p"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Accept(7); err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Counter(); c != 8 {
		t.Fatalf("counter = %d after Accept(7), want 8", c)
	}
	for _, used := range []uint32{7, 3, 0} {
		if err := p.Accept(used); !errors.Is(err, ErrReplay) {
			t.Fatalf("Accept(%d) after 7: err = %v, want ErrReplay", used, err)
		}
	}
	if c, _ := p.Counter(); c != 8 {
		t.Fatalf("counter = %d after refused replays, want 8", c)
	}
}

func TestCounterExhausted(t *testing.T) {
	dir := copyProfile(t, originalDir, "p")
	os.WriteFile(filepath.Join(dir, CounterFile), []byte("4294967295\n"), 0o600)
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, used, err := p.NextKnock(65535); err != nil || used != knock.MaxCounter {
		t.Fatalf("last counter: used %d, err %v", used, err)
	}
	if _, _, err := p.NextKnock(22); !errors.Is(err, knock.ErrCounterExhausted) {
		t.Fatalf("past the last counter: err = %v, want ErrCounterExhausted", err)
	}
	if c, _ := p.Counter(); c != knock.MaxCounter+1 {
		t.Fatalf("counter = %d", c)
	}
}

func TestNextKnockSkipsZeroID(t *testing.T) {
	dir := copyProfile(t, originalDir, "p")
	p, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Find a counter whose knock for port 22 has IP ID 0.
	zero := uint32(0)
	for knock.Encode(&p.Keys, zero, 22).ID != 0 {
		zero++
	}
	os.WriteFile(filepath.Join(dir, CounterFile), []byte(strconv.FormatUint(uint64(zero), 10)+"\n"), 0o600)
	f, used, err := p.NextKnock(22)
	if err != nil {
		t.Fatal(err)
	}
	if used != zero+1 || f.ID == 0 {
		t.Fatalf("NextKnock used counter %d (ID %d); want %d, skipping ID 0 at %d", used, f.ID, zero+1, zero)
	}
	if c, _ := p.Counter(); c != uint64(zero)+2 {
		t.Fatalf("counter = %d, want %d", c, zero+2)
	}
}

func TestNoTempFilesLeft(t *testing.T) {
	p, err := Load(copyProfile(t, originalDir, "p"))
	if err != nil {
		t.Fatal(err)
	}
	for range 50 {
		if _, _, err := p.NextKnock(22); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(p.Dir)
	if len(entries) != len(Files) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("profile holds %v, want only %v", names, Files)
	}
}
