package peercred

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc/credentials"
)

// TransportCredentials returns server-side gRPC transport credentials that
// read SO_PEERCRED during the handshake and record it in AuthInfo. Traffic
// is not encrypted: the unix socket is local and its file mode is the first
// layer of access control. A connection without peer credentials fails the
// handshake.
func TransportCredentials() credentials.TransportCredentials {
	return transportCreds{}
}

type transportCreds struct{}

func (transportCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, err := Get(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("peercred handshake: %w", err)
	}
	return conn, newAuthInfo(c), nil
}

func (transportCreds) ClientHandshake(_ context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	c, err := Get(conn)
	if err != nil {
		return nil, nil, fmt.Errorf("peercred handshake: %w", err)
	}
	return conn, newAuthInfo(c), nil
}

func newAuthInfo(c Cred) AuthInfo {
	return AuthInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity},
		Cred:           c,
	}
}

func (transportCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}

func (t transportCreds) Clone() credentials.TransportCredentials { return t }

func (transportCreds) OverrideServerName(string) error { return nil }
