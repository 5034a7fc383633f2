package netfilter

import (
	"context"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// DeleteHostPorts is part of HostPorts. It looks up the owner's marker
// first: none, nothing to do. With keys it then looks the owner's elements
// up directly (a cost independent of the pods); with none, or when the
// keys find nothing (mappings changed since ADD), it reads the whole
// table. Then one transaction.
func (h *hpNFTables) DeleteHostPorts(ctx context.Context, owner HostPortOwner, keys []HostPortKey) ([]HostPort, error) {
	unlock, err := hpLock(h.lockPath, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	tag := owner.Tag()
	var removed []HostPort
	err = hpRetry(ctx, func() error {
		marker, err := h.getOwned(ctx, tag, []*knftables.Element{hpOwnerMarker(tag, 0)})
		if err != nil || len(marker) == 0 {
			return err // no marker: the owner has nothing here
		}
		els, err := h.findOwned(ctx, tag, keys)
		if err != nil {
			return err
		}
		if strconv.Itoa(len(els)) != hpElemValue(marker[0]) {
			// Some are not under these keys: mappings that changed
			// since ADD, or taken over. Read everything.
			st, err := h.nft.Read(ctx)
			if err != nil {
				return err
			}
			els = st.ownedBy(func(t string) bool { return t == tag })
		} else {
			els = append(els, marker...)
		}
		if len(els) == 0 {
			return nil
		}
		tx := &hpTx{}
		for _, e := range els {
			tx.Delete(hpElemRef(e))
		}
		if err := h.nft.Run(ctx, tx); err != nil {
			return fmt.Errorf("delete host ports of %s from table inet %s: %w", tag, hpNFTTable, err)
		}
		removed = hpNFTMappings(els)
		return nil
	})
	return removed, err
}

// findOwned looks up the elements tag has for keys: the DNAT and condition
// entries of each key, then the masquerade entries of the pod addresses
// and ports those DNAT entries point at.
func (h *hpNFTables) findOwned(ctx context.Context, tag string, keys []HostPortKey) ([]*knftables.Element, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	var want []*knftables.Element
	for _, k := range keys {
		for _, v6 := range k.families() {
			f := hpFamily(v6)
			key := []string{k.Protocol, strconv.Itoa(int(k.HostPort))}
			any := !k.HostIP.IsValid() || k.HostIP.IsUnspecified()
			if !any {
				key = append([]string{k.HostIP.String()}, key...)
			}
			want = append(want, &knftables.Element{Map: f.dnatMap(any), Key: key}, &knftables.Element{Map: f.condMap(any), Key: key})
		}
	}
	owned, err := h.getOwned(ctx, tag, want)
	if err != nil {
		return nil, err
	}
	want = want[:0]
	for _, m := range hpNFTMappings(owned) {
		want = append(want, hpMasqCandidates(m)...)
	}
	masq, err := h.getOwned(ctx, tag, want)
	return append(owned, masq...), err
}

// getOwned returns the elements of want that exist with exactly that key
// and belong to tag, each once.
func (h *hpNFTables) getOwned(ctx context.Context, tag string, want []*knftables.Element) ([]*knftables.Element, error) {
	if len(want) == 0 {
		return nil, nil
	}
	got, err := h.nft.Get(ctx, want)
	if err != nil {
		return nil, err
	}
	var out []*knftables.Element
	seen := map[string]bool{}
	for i, e := range got {
		if e != nil && hpElemOwner(e) == tag && hpElemID(e) == hpElemID(want[i]) && !seen[hpElemID(e)] {
			seen[hpElemID(e)] = true
			out = append(out, e)
		}
	}
	return out, nil
}

// GCHostPorts is part of HostPorts: one read and at most one transaction.
func (h *hpNFTables) GCHostPorts(ctx context.Context, network string, valid []HostPortOwner) ([]HostPort, error) {
	unlock, err := hpLock(h.lockPath, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	st, err := h.nft.Read(ctx)
	if err != nil || !st.Exists {
		return nil, err
	}
	keep := map[string]bool{}
	for _, o := range valid {
		keep[o.Tag()] = true
	}
	stale := st.ownedBy(func(t string) bool { return hpTagOfNetwork(t, network) && !keep[t] })
	tx := &hpTx{}
	if hpNFTLeft(st, stale) == 0 {
		if err := hpResetLocalnet(h.sysctl, st.Elements[hpSetLocalnet], h.log); err != nil {
			return nil, err
		}
		tx.Delete(&knftables.Table{})
	} else {
		for _, e := range stale {
			tx.Delete(hpElemRef(e))
		}
		hpPlanUnusedCondChains(tx, st, stale)
	}
	if tx.NumOperations() == 0 {
		return nil, nil
	}
	if err := h.nft.Run(ctx, tx); err != nil {
		return nil, fmt.Errorf("garbage-collect host ports of network %q in table inet %s: %w", network, hpNFTTable, err)
	}
	return hpNFTMappings(stale), nil
}

// hpNFTLeft counts the mapping elements that remain once gone are deleted.
func hpNFTLeft(st *hpNFTState, gone []*knftables.Element) int {
	del := map[string]bool{}
	for _, e := range gone {
		del[hpElemID(e)] = true
	}
	n := 0
	for name, els := range st.Elements {
		if name == hpSetLocalnet {
			continue
		}
		for _, e := range els {
			if !del[hpElemID(e)] {
				n++
			}
		}
	}
	return n
}

// hpPlanUnusedCondChains deletes condition chains no remaining element
// jumps to.
func hpPlanUnusedCondChains(tx *hpTx, st *hpNFTState, gone []*knftables.Element) {
	del := map[string]bool{}
	for _, e := range gone {
		del[hpElemID(e)] = true
	}
	used := map[string]bool{}
	for name, els := range st.Elements {
		if !strings.HasPrefix(name, "cond") {
			continue
		}
		for _, e := range els {
			if !del[hpElemID(e)] {
				used[strings.TrimPrefix(hpElemValue(e), "goto ")] = true
			}
		}
	}
	for _, name := range hpSortedKeys(st.Rules) {
		if (strings.HasPrefix(name, hpCondPrefix4) || strings.HasPrefix(name, hpCondPrefix6)) && !used[name] {
			tx.Flush(&knftables.Chain{Name: name})
			tx.Delete(&knftables.Chain{Name: name})
		}
	}
}

// hpNFTMappings turns DNAT map elements back into mappings (for conntrack
// cleanup); other elements are skipped.
func hpNFTMappings(els []*knftables.Element) []HostPort {
	var out []HostPort
	for _, e := range els {
		if !strings.HasPrefix(e.Map, "dnat") || len(e.Value) != 2 {
			continue
		}
		k := e.Key
		var m HostPort
		if len(k) == 3 {
			m.HostIP, _ = netip.ParseAddr(k[0])
			k = k[1:]
		}
		if len(k) != 2 {
			continue
		}
		hp, err1 := strconv.ParseUint(k[1], 10, 16)
		pp, err2 := strconv.ParseUint(e.Value[1], 10, 16)
		ip, err3 := netip.ParseAddr(e.Value[0])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		m.Protocol, m.HostPort, m.PodIP, m.PodPort = k[0], uint16(hp), ip, uint16(pp)
		out = append(out, m)
	}
	return out
}
