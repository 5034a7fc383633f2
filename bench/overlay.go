package bench

import (
	"context"
	"errors"
	"fmt"
)

// overlayScenario is ours only: there is no reference vxlan plugin.
func overlayScenario() scenario {
	return scenario{
		name:     "overlay",
		needs:    []string{"vxlan", "host-local", "loopback"},
		oursOnly: true,
		describe: func(o Options) string {
			return fmt.Sprintf("ours only: iperf3 TCP pod-to-pod across two nodes over vxlan vs node-to-node on the underlay; ADD latency with %d peers", o.OverlayPeers)
		},
		run: func(context.Context, *env, *Result) error {
			return errors.New("not written yet")
		},
	}
}
