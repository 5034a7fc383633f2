package main

import (
	"encoding/json"

	"github.com/podnet/podnet/pkg/cniplugin"
	"github.com/podnet/podnet/pkg/hostlocal"
)

// gcAttachment is one entry of the GC attachment list.
type gcAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

// parseValidAttachments reads cni.dev/valid-attachments, or the older key
// cni.dev/attachments that spec 1.1.0 named (libcni sends both). Present
// but null or empty means no attachment is valid. Absent is refused: a
// hand-written GC config without the list must not empty the pool under
// running pods.
func parseValidAttachments(stdin []byte) ([]hostlocal.Attachment, error) {
	var raw map[string]json.RawMessage
	if err := cniplugin.DecodeConf(stdin, &raw); err != nil {
		return nil, err
	}
	var list []gcAttachment
	found := false
	for _, key := range []string{"cni.dev/valid-attachments", "cni.dev/attachments"} {
		v, ok := raw[key]
		if !ok {
			continue
		}
		found = true
		var l []gcAttachment
		if err := json.Unmarshal(v, &l); err != nil {
			return nil, cniplugin.Errorf(cniplugin.ErrDecodingFailure, "decode %s: %w", key, err)
		}
		list = append(list, l...)
	}
	if !found {
		return nil, cniplugin.WithCode(cniplugin.ErrInvalidNetworkConfig, errNoAttachments)
	}
	out := make([]hostlocal.Attachment, 0, len(list))
	for _, a := range list {
		out = append(out, hostlocal.Attachment{ContainerID: a.ContainerID, IfName: a.IfName})
	}
	return out, nil
}
