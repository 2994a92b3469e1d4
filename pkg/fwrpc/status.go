package fwrpc

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kk-project/kk/pkg/firewall"
)

// codeOf maps a firewall sentinel to its gRPC code, in both directions.
var codeOf = []struct {
	err  error
	code codes.Code
}{
	{firewall.ErrInvalid, codes.InvalidArgument},
	{firewall.ErrNotFound, codes.NotFound},
	{firewall.ErrExhausted, codes.ResourceExhausted},
	{firewall.ErrPermission, codes.PermissionDenied},
	{firewall.ErrUnavailable, codes.Unavailable},
	{context.Canceled, codes.Canceled},
	{context.DeadlineExceeded, codes.DeadlineExceeded},
}

// toStatus converts a Manager error to a gRPC status error. Errors that are
// none of the sentinels become INTERNAL.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	for _, c := range codeOf {
		if errors.Is(err, c.err) {
			return status.Error(c.code, err.Error())
		}
	}
	return status.Error(codes.Internal, err.Error())
}

// fromStatus converts a gRPC error back to an error wrapping the matching
// firewall sentinel, so errors.Is works for callers of Client.
func fromStatus(op string, err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	for _, c := range codeOf {
		if st.Code() == c.code {
			return fmt.Errorf("%s: %w: %s", op, c.err, st.Message())
		}
	}
	return fmt.Errorf("%s: kk-firewall: %s: %s", op, st.Code(), st.Message())
}
