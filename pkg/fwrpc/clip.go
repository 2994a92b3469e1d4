package fwrpc

import "fmt"

// maxLoggedField is how many bytes of a caller's string field reach a log
// line or an error. A refused Open once wrote a 3 MB line; an honest caller
// never sends a field this long.
const maxLoggedField = 64

// clip returns s if it is at most maxLoggedField bytes, and otherwise its
// first maxLoggedField bytes followed by "...(N bytes)", N being len(s).
func clip(s string) string {
	if len(s) <= maxLoggedField {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:maxLoggedField], len(s))
}
