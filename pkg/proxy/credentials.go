package proxy

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"syscall"

	"github.com/kk-project/kk/pkg/profile"
)

// CredentialsFile is the name of the file, in the profiles directory, that
// holds the proxy's SOCKS5 user name and password as one line "user:password".
// curl takes that line as it is: curl --socks5-hostname "$(cat FILE)@127.0.0.1:1080".
const CredentialsFile = "proxy-credentials"

// CredentialsUser is the user name of generated credentials.
const CredentialsUser = "kk"

// Credentials are the SOCKS5 user name and password (RFC 1929) that a TCP
// client must give. They implement go-socks5's CredentialStore. The zero
// value admits nobody. Credentials are safe for concurrent use.
type Credentials struct {
	User, Password string
	log            *slog.Logger
}

// Valid reports whether user and password are c's, comparing in constant
// time, and logs a refusal.
func (c *Credentials) Valid(user, password string) bool {
	u := subtle.ConstantTimeCompare([]byte(user), []byte(c.User))
	p := subtle.ConstantTimeCompare([]byte(password), []byte(c.Password))
	ok := u&p == 1 && c.Password != ""
	if !ok && c.log != nil {
		c.log.Warn("refused a SOCKS5 client: wrong user name or password", "user_len", len(user))
	}
	return ok
}

// LoadCredentials reads the credentials in path, creating them with a fresh
// 128-bit password if the file does not exist. The file must be a regular
// file owned by the caller and readable by nobody else; it is created 0600.
// created reports whether it was created. Refusals are logged to log.
func LoadCredentials(path string, log *slog.Logger) (c *Credentials, created bool, err error) {
	b, err := profile.ReadPrivate(path)
	if errors.Is(err, fs.ErrNotExist) {
		c, err = createCredentials(path)
		if err == nil {
			c.log = log
		}
		return c, err == nil, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("the proxy's credentials: %w", err)
	}
	user, pass, ok := bytes.Cut(bytes.TrimSpace(b), []byte(":"))
	if !ok || len(user) == 0 || len(user) > 255 || len(pass) < 16 || len(pass) > 255 {
		return nil, false, fmt.Errorf("%s is not one line user:password (a password of 16 to 255 bytes); delete it and a new one is made at the next start", path)
	}
	return &Credentials{User: string(user), Password: string(pass), log: log}, false, nil
}

// createCredentials writes fresh credentials to path, which must not exist.
func createCredentials(path string) (*Credentials, error) {
	var b [16]byte
	rand.Read(b[:])
	c := &Credentials{User: CredentialsUser, Password: hex.EncodeToString(b[:])}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the proxy's credentials: %w", err)
	}
	_, err = fmt.Fprintf(f, "%s:%s\n", c.User, c.Password)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return c, nil
}
