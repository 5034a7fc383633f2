package hostlocal

import (
	"encoding/json"
	"errors"

	"github.com/podnet/podnet/pkg/cniplugin"
)

// gcAttachment is one entry of the GC attachment list.
type gcAttachment struct {
	ContainerID string `json:"containerID"`
	IfName      string `json:"ifname"`
}

var errNoAttachments = errors.New("GC config has neither cni.dev/valid-attachments nor cni.dev/attachments; refusing to release every reservation")

// ParseValidAttachments reads the GC list cni.dev/valid-attachments, or
// the older key cni.dev/attachments that spec 1.1.0 named (libcni sends
// both; the entries add up). Present but null or empty means no attachment
// is valid. Absent is refused with code 7: a hand-written GC config
// without the list must not empty the pool under running pods. A list of
// the wrong shape is code 6.
func ParseValidAttachments(stdin []byte) ([]Attachment, error) {
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
	out := make([]Attachment, 0, len(list))
	for _, a := range list {
		out = append(out, Attachment(a))
	}
	return out, nil
}
