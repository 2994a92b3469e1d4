package profile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes arbitrary profile files and loads them. Load must either
// fail with an error naming a file, or return a profile whose fields hold
// what the files say; it must never panic or accept a damaged counter.
func FuzzLoad(f *testing.F) {
	read := func(name string) []byte {
		data, err := os.ReadFile(filepath.Join(originalDir, name))
		if err != nil {
			f.Fatal(err)
		}
		return data
	}
	ck, mk, ctr, cfg := read(CipherKeyFile), read(MACKeyFile), read(CounterFile), read(ConfigFile)
	f.Add(ck, mk, ctr, cfg)
	f.Add(ck, mk, []byte("4294967296\n"), []byte("[main]\nknock_port=1\n"))
	f.Add([]byte(""), mk, ctr, cfg)
	f.Add(ck, []byte("AAAA\n"), []byte("x"), []byte("[main]\nknock_port = 0\n"))
	f.Fuzz(func(t *testing.T, cipherKey, macKey, counter, config []byte) {
		dir := t.TempDir()
		for name, data := range map[string][]byte{
			CipherKeyFile: cipherKey, MACKeyFile: macKey, CounterFile: counter, ConfigFile: config,
		} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		p, err := Load(dir)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrUnsafe) && !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("error of unknown kind: %v", err)
			}
			return
		}
		if p.KnockPort == 0 {
			t.Fatal("accepted knock port 0")
		}
		if _, err := p.Counter(); err != nil {
			t.Fatalf("Load accepted a counter that Counter refuses: %v", err)
		}
	})
}
