package firewall

import (
	"fmt"
	"slices"
	"strings"
	"sync"
)

// fakeIPT is an in-memory iptabler. It prints rules the way iptables-nft's
// `iptables -S` does for the rules kk writes (prefix length on -s, an
// implicit "-m tcp", quoted comment), which testdata/iptables-S.txt pins.
type fakeIPT struct {
	mu     sync.Mutex
	chains map[string][][]string
	calls  int
	fail   error // returned by every mutating call when set
	// failInsert is returned by Insert alone when set.
	failInsert error
	// deleteGate, when set, is received from before each Delete, so a
	// test can hold a deletion in progress; deleting is then sent to (if
	// it has room) to say a deletion is waiting.
	deleteGate chan struct{}
	deleting   chan struct{}
}

type notExistErr struct{ msg string }

func (e notExistErr) Error() string    { return e.msg }
func (e notExistErr) IsNotExist() bool { return true }

func newFakeIPT() *fakeIPT {
	return &fakeIPT{chains: map[string][][]string{"INPUT": nil}}
}

func (f *fakeIPT) ChainExists(table, chain string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.chains[chain]
	return ok, nil
}

func (f *fakeIPT) NewChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.chains[chain] = nil
	return nil
}

func (f *fakeIPT) ClearAndDeleteChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.chains, chain)
	return nil
}

func (f *fakeIPT) DeleteChain(table, chain string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs, ok := f.chains[chain]
	switch {
	case !ok:
		return notExistErr{"No chain/target/match by that name."}
	case len(rs) > 0:
		return fmt.Errorf("iptables: Directory not empty.")
	}
	delete(f.chains, chain)
	return nil
}

func (f *fakeIPT) index(chain string, spec []string) int {
	return slices.IndexFunc(f.chains[chain], func(r []string) bool { return slices.Equal(r, spec) })
}

func (f *fakeIPT) Exists(table, chain string, spec ...string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.index(chain, spec) >= 0, nil
}

func (f *fakeIPT) Insert(table, chain string, pos int, spec ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failInsert != nil {
		return f.failInsert
	}
	return f.mutate(chain, func(rs [][]string) [][]string { return slices.Insert(rs, pos-1, slices.Clone(spec)) })
}

func (f *fakeIPT) Append(table, chain string, spec ...string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mutate(chain, func(rs [][]string) [][]string { return append(rs, slices.Clone(spec)) })
}

func (f *fakeIPT) Delete(table, chain string, spec ...string) error {
	if f.deleteGate != nil {
		select {
		case f.deleting <- struct{}{}:
		default:
		}
		<-f.deleteGate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	i := f.index(chain, spec)
	if i < 0 {
		return notExistErr{"Bad rule (does a matching rule exist in that chain?)."}
	}
	return f.mutate(chain, func(rs [][]string) [][]string { return slices.Delete(rs, i, i+1) })
}

func (f *fakeIPT) DeleteById(table, chain string, id int) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id < 1 || id > len(f.chains[chain]) {
		return fmt.Errorf("index of deletion too big")
	}
	return f.mutate(chain, func(rs [][]string) [][]string { return slices.Delete(rs, id-1, id) })
}

func (f *fakeIPT) mutate(chain string, fn func([][]string) [][]string) error {
	f.calls++
	if f.fail != nil {
		return f.fail
	}
	rs, ok := f.chains[chain]
	if !ok {
		return notExistErr{"No chain/target/match by that name."}
	}
	f.chains[chain] = fn(rs)
	return nil
}

func (f *fakeIPT) List(table, chain string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rs, ok := f.chains[chain]
	if !ok {
		return nil, notExistErr{"No chain/target/match by that name."}
	}
	out := []string{"-N " + chain}
	for _, r := range rs {
		out = append(out, "-A "+chain+" "+printRule(r))
	}
	return out, nil
}

// printRule renders spec as iptables -S does.
func printRule(spec []string) string {
	var b []string
	for i := 0; i < len(spec); i++ {
		a := spec[i]
		switch {
		case a == "-s" && i+1 < len(spec) && !strings.Contains(spec[i+1], "/"):
			bits := "/32"
			if strings.Contains(spec[i+1], ":") {
				bits = "/128"
			}
			b = append(b, a, spec[i+1]+bits)
			i++
		case a == "-p" && i+1 < len(spec) && spec[i+1] == "tcp":
			b = append(b, "-p", "tcp", "-m", "tcp")
			i++
		case a == "--comment" && i+1 < len(spec):
			b = append(b, a, `"`+spec[i+1]+`"`)
			i++
		default:
			b = append(b, a)
		}
	}
	return strings.Join(b, " ")
}

// dump returns the chain as printed lines, for comparisons.
func (f *fakeIPT) dump(chain string) []string {
	l, _ := f.List("filter", chain)
	return l
}
