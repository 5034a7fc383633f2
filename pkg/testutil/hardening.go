package testutil

import (
	"slices"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// ParserCodes are the CNI error codes a config or argument parser may give a
// rejection: incompatible version (1), unsupported field (2), invalid
// environment (4), decoding failure (6), invalid network config (7). Code
// 999 ("internal") is never a proper answer to bad input.
var ParserCodes = []uint{
	cniplugin.ErrIncompatibleCNIVersion, cniplugin.ErrUnsupportedField, cniplugin.ErrInvalidEnvironment,
	cniplugin.ErrDecodingFailure, cniplugin.ErrInvalidNetworkConfig,
}

// RequireRejectionCode fails the test unless err, as the runtime would see
// it, carries one of codes (ParserCodes when none is given) and a message.
// A nil err passes: the input was accepted. Fuzz targets call it on every
// rejection so that no input ends as a bare error (code 999).
func RequireRejectionCode(t TB, err error, codes ...uint) {
	t.Helper()
	if err == nil {
		return
	}
	if len(codes) == 0 {
		codes = ParserCodes
	}
	e := cniplugin.ToCNIError(err)
	if !slices.Contains(codes, e.Code) {
		t.Fatalf("rejection has CNI code %d, want one of %v: %v", e.Code, codes, err)
	}
	if e.Msg == "" {
		t.Fatalf("rejection with code %d has an empty message", e.Code)
	}
}
