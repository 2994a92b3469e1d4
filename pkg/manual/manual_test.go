package manual

import (
	"bytes"
	"flag"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kk-project/kk/internal/nstest"
)

func samplePage() *Page {
	fs := flag.NewFlagSet("kk-x", flag.ContinueOnError)
	fs.String("p", "", "the `port` to open")
	fs.Duration("delay", 15*time.Second, "how long an opening lasts")
	fs.Bool("v2", false, "v2 knocks")
	return &Page{
		Name:     "kk-x",
		Section:  "8",
		Summary:  "an example command",
		Synopsis: []string{"kk-x -p PORT [--delay D]"},
		Sections: []Section{
			{Title: "DESCRIPTION", Text: `
kk-x does one thing.
It does it well.

.A line that starts with a period, and a \backslash.
	kk-x -p 22 --delay 5s
	'quoted
`},
			{Title: "OPTIONS", Flags: fs},
			{Title: "EXIT STATUS", Entries: []Entry{{"0", "success"}, {"2", "a usage error"}}},
		},
	}
}

func TestUsageListsEveryFlag(t *testing.T) {
	var b bytes.Buffer
	samplePage().Usage(&b)
	got := b.String()
	for _, want := range []string{
		"usage:\n  kk-x -p PORT [--delay D]\n",
		"\nOptions:\n  --delay duration\n",
		"  -p port\n      the port to open\n",
		"  --delay duration\n      how long an opening lasts (default 15s)\n",
		"  --v2\n      v2 knocks\n",
		"man 8 kk-x",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("usage lacks %q:\n%s", want, got)
		}
	}
}

func TestTextKeepsVerbatimLines(t *testing.T) {
	var b bytes.Buffer
	samplePage().Text(&b)
	got := b.String()
	for _, want := range []string{
		"NAME\n    kk-x - an example command\n",
		"    kk-x does one thing. It does it well.\n",
		"        kk-x -p 22 --delay 5s\n        'quoted\n",
		"EXIT STATUS\n    0\n        success\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("text lacks %q:\n%s", want, got)
		}
	}
}

// TestRoffIsCleanForGroff renders the page and has groff check it with all
// warnings on; then it checks the escapes that keep a command copyable.
func TestRoffIsCleanForGroff(t *testing.T) {
	var b bytes.Buffer
	samplePage().Roff(&b, "v1.0.0")
	roff := b.String()
	for _, want := range []string{
		`.TH "KK\-X" 8 "" "kk v1.0.0" "kk manual"`,
		"\\&.A line that starts with a period, and a \\ebackslash.",
		"kk\\-x \\-p 22 \\-\\-delay 5s",
		"\\&'quoted",
		".B \"\\-\\-delay duration\"\nhow long an opening lasts (default 15s)",
	} {
		if !strings.Contains(roff, want) {
			t.Errorf("roff lacks %q:\n%s", want, roff)
		}
	}
	groff, err := exec.LookPath("groff")
	if err != nil {
		nstest.Unavailable(t, "groff is not installed (make deps installs groff-base); the roff was not checked by groff")
	}
	cmd := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z")
	cmd.Stdin = strings.NewReader(roff)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("groff -ww: %v\n%s", err, out)
	}
}
