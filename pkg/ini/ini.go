// Package ini reads the small INI files knockknock uses, in the dialect
// Python's ConfigParser writes: "[section]" headers, "key = value" or
// "key: value" lines (spaces around the separator optional), and "#" or ";"
// comment lines. Keys are case-insensitive and returned in lower case.
package ini

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// A File maps section names to their keys and values.
type File map[string]map[string]string

// Get returns the value of key in section and reports whether it was set.
func (f File) Get(section, key string) (string, bool) {
	v, ok := f[section][key]
	return v, ok
}

// Parse parses data. name is used only in error messages, which give the
// line number of the first line that is not valid INI.
func Parse(name string, data []byte) (File, error) {
	f := File{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[':
			if !strings.HasSuffix(line, "]") || len(line) < 3 {
				return nil, fmt.Errorf("%s:%d: malformed section header %q", name, n, line)
			}
			section = strings.TrimSpace(line[1 : len(line)-1])
			if f[section] == nil {
				f[section] = map[string]string{}
			}
		default:
			key, value, ok := splitKey(line)
			if !ok {
				return nil, fmt.Errorf("%s:%d: expected \"key = value\", got %q", name, n, line)
			}
			if section == "" {
				return nil, fmt.Errorf("%s:%d: %q appears before any [section] header", name, n, key)
			}
			f[section][key] = value
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func splitKey(line string) (key, value string, ok bool) {
	i := strings.IndexAny(line, "=:")
	if i <= 0 {
		return "", "", false
	}
	key = strings.ToLower(strings.TrimSpace(line[:i]))
	return key, strings.TrimSpace(line[i+1:]), key != ""
}
