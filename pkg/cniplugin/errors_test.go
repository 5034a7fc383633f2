package cniplugin

import (
	"errors"
	"fmt"
	"syscall"
	"testing"

	"github.com/containernetworking/cni/pkg/types"
)

func TestToCNIError(t *testing.T) {
	ipamErr := &types.Error{Code: 7, Msg: "invalid range", Details: "rangeStart outside subnet"}
	tests := []struct {
		name     string
		err      error
		wantCode uint
		wantMsg  string
		wantDet  string
	}{
		{"plain", errors.New("boom"), 999, "boom", ""},
		{"coded", ConfigErrorf("parse %q: bad value", "mtu"), 7, `parse "mtu": bad value`, ""},
		{"coded wrapped", fmt.Errorf("add: %w", Errorf(4, "CNI_NETNS missing")), 4, "add: CNI_NETNS missing", ""},
		{"outermost code wins", Errorf(5, "read: %w", Errorf(6, "decode")), 5, "read: decode", ""},
		{"types.Error as is", ipamErr, 7, "invalid range", "rangeStart outside subnet"},
		{"types.Error wrapped", fmt.Errorf("delegate ipam: %w", ipamErr), 7, "delegate ipam: invalid range", "rangeStart outside subnet"},
		{"transient", fmt.Errorf("lock: %w", syscall.EAGAIN), 11, "lock: resource temporarily unavailable", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ToCNIError(tt.err)
			if got.Code != tt.wantCode || got.Msg != tt.wantMsg || got.Details != tt.wantDet {
				t.Fatalf("ToCNIError = {%d %q %q}, want {%d %q %q}", got.Code, got.Msg, got.Details, tt.wantCode, tt.wantMsg, tt.wantDet)
			}
		})
	}
	if ToCNIError(nil) != nil || WithCode(7, nil) != nil {
		t.Fatal("nil error must stay nil")
	}
	if Code(ConfigErrorf("x")) != 7 {
		t.Fatal("Code of ConfigErrorf must be 7")
	}
}
