package cniplugin

import (
	"errors"
	"fmt"
	"strings"
	"syscall"

	"github.com/containernetworking/cni/pkg/types"
)

// CNI error codes from the spec, re-exported so plugins read as one vocabulary.
const (
	ErrIncompatibleCNIVersion = types.ErrIncompatibleCNIVersion      // 1
	ErrUnsupportedField       = types.ErrUnsupportedField            // 2
	ErrUnknownContainer       = types.ErrUnknownContainer            // 3
	ErrInvalidEnvironment     = types.ErrInvalidEnvironmentVariables // 4
	ErrIOFailure              = types.ErrIOFailure                   // 5
	ErrDecodingFailure        = types.ErrDecodingFailure             // 6
	ErrInvalidNetworkConfig   = types.ErrInvalidNetworkConfig        // 7
	ErrTryAgainLater          = types.ErrTryAgainLater               // 11
	ErrPluginNotAvailable     = 50                                   // STATUS only; no constant in cni v1.3.0
	ErrLimitedConnectivity    = 51                                   // STATUS only; no constant in cni v1.3.0
	ErrInternal               = types.ErrInternal                    // 999
)

// codedError attaches a CNI error code to an error without losing its cause.
type codedError struct {
	code uint
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// WithCode returns err marked with a CNI error code. The message and the
// cause chain are unchanged; ToCNIError uses the outermost code it finds.
// WithCode(code, nil) is nil.
func WithCode(code uint, err error) error {
	if err == nil {
		return nil
	}
	return &codedError{code: code, err: err}
}

// Errorf is fmt.Errorf (with %w support) marked with a CNI error code.
func Errorf(code uint, format string, args ...any) error {
	return WithCode(code, fmt.Errorf(format, args...))
}

// ConfigErrorf is Errorf with code 7 (invalid network config), the code of
// nearly every validation failure.
func ConfigErrorf(format string, args ...any) error {
	return WithCode(ErrInvalidNetworkConfig, fmt.Errorf(format, args...))
}

// Code reports the CNI error code ToCNIError would give err.
func Code(err error) uint {
	return ToCNIError(err).Code
}

// ToCNIError converts any error into the *types.Error a runtime sees.
//
// The message is the whole wrapped chain ("set up veth: add link ...: file
// exists"), so the context added by every layer reaches the operator. The
// code is, in order: the outermost WithCode mark; the code of a *types.Error
// in the chain (a delegated IPAM plugin's error keeps its code); 11 for
// transient kernel errors (EAGAIN, EBUSY, EINTR); else 999.
func ToCNIError(err error) *types.Error {
	if err == nil {
		return nil
	}
	var te *types.Error
	if errors.As(err, &te) && te == err {
		return te
	}
	msg := err.Error()
	var ce *codedError
	if errors.As(err, &ce) {
		details := ""
		if te != nil {
			details = te.Details
			msg = strings.TrimSuffix(msg, "; "+te.Details)
		}
		return &types.Error{Code: ce.code, Msg: msg, Details: details}
	}
	if te != nil {
		return &types.Error{Code: te.Code, Msg: strings.TrimSuffix(msg, "; "+te.Details), Details: te.Details}
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EBUSY) || errors.Is(err, syscall.EINTR) {
		return &types.Error{Code: ErrTryAgainLater, Msg: msg}
	}
	return &types.Error{Code: ErrInternal, Msg: msg}
}
