package cniplugin

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRefuseOverlong(t *testing.T) {
	long := func(n int) string { return strings.Repeat("a", n) }
	tests := []struct {
		name, id, stdin string
		code            uint
	}{
		{"real", long(64), `{"name":"net1"}`, 0},
		{"longest id", long(MaxContainerID), `{"name":"` + long(MaxNetworkName) + `"}`, 0},
		{"id too long", long(MaxContainerID + 1), `{"name":"net1"}`, ErrInvalidEnvironment},
		{"name too long", "c1", `{"name":"` + long(MaxNetworkName+1) + `"}`, ErrInvalidNetworkConfig},
		{"not JSON is left to the decoder", "c1", `{`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var head confHead
			_ = json.Unmarshal([]byte(tt.stdin), &head) // as wrap does
			err := refuseOverlong(tt.id, head.Name)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if Code(err) != tt.code || !strings.Contains(err.Error(), "longer than") || len(err.Error()) > 200 {
				t.Fatalf("error = %v (code %d), want code %d, short, saying longer than", err, Code(err), tt.code)
			}
		})
	}
}
