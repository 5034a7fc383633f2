package netfilter

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"

	"sigs.k8s.io/knftables"
)

// hpNFT is the nftables access the host-port code needs: transactions on
// the podnet-hostport table and one snapshot read of it. The kernel one
// writes over netlink or with `nft -f -` and reads over netlink;
// hpNFTFake wraps knftables.Fake.
type hpNFT interface {
	// Run applies tx atomically: all of it or nothing.
	Run(ctx context.Context, tx *hpTx) error
	// Read returns the table's state, every element included (its cost
	// grows with the pods). An absent table, or a kernel without
	// nftables, is Exists=false and no error.
	Read(ctx context.Context) (*hpNFTState, error)
	// ReadScaffold is Read without the elements: sets and maps are listed
	// empty.
	ReadScaffold(ctx context.Context) (*hpNFTState, error)
	// Get returns, for each element of want, the element the kernel has
	// at its set and key (for a range set, the element containing its
	// start), or nil.
	Get(ctx context.Context, want []*knftables.Element) ([]*knftables.Element, error)
}

// hpNFTables is HostPorts on nftables.
type hpNFTables struct {
	nft      hpNFT
	sysctl   hpSysctl
	lockPath string
	log      *slog.Logger
}

// EnsureHostPorts is part of HostPorts. It costs one netlink read and one
// nft transaction, whatever the number of pods on the node.
func (h *hpNFTables) EnsureHostPorts(ctx context.Context, spec HostPortSpec) error {
	if len(spec.Mappings) == 0 {
		return nil
	}
	unlock, err := hpLock(h.lockPath, false)
	if err != nil {
		return err
	}
	defer unlock()
	return hpRetry(ctx, func() error { return h.ensureOnce(ctx, &spec) })
}

// ensureOnce reads what it needs and writes one transaction. The usual
// ADD reads the scaffolding and looks up the planned keys only; an ADD
// that finds elements of its own owner (ADD again without DEL) reads the
// whole table to also remove the owner's other, stale elements.
func (h *hpNFTables) ensureOnce(ctx context.Context, spec *HostPortSpec) error {
	st, err := h.nft.ReadScaffold(ctx)
	if err != nil {
		return err
	}
	planned, _ := hpNFTElements(spec)
	if st.Exists {
		full, err := h.lookUp(ctx, st, spec, planned)
		if err != nil {
			return err
		}
		if full {
			if st, err = h.nft.Read(ctx); err != nil {
				return err
			}
		}
	}
	localnet, err := hpNeedLocalnet(h.sysctl, spec)
	if err != nil {
		return err
	}
	tx := &hpTx{}
	takeovers := hpPlanNFTEnsure(tx, st, spec, localnet)
	if err := h.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("add host ports of %s to table inet %s: %w", spec.Owner.Tag(), hpNFTTable, err)
	}
	for _, t := range takeovers {
		h.log.Warn("took over host port from another pod", "mapping", t.mapping, "previousOwner", t.from)
	}
	if localnet != "" {
		return h.sysctl.SetRouteLocalnet(localnet, true)
	}
	return nil
}

// lookUp fills st with the elements found at the planned keys (and the
// localnet interface), and reports whether the owner already has elements
// (its marker exists), in which case the caller needs the full table.
func (h *hpNFTables) lookUp(ctx context.Context, st *hpNFTState, spec *HostPortSpec, planned []hpNFTElem) (full bool, err error) {
	want := make([]*knftables.Element, 0, len(planned)+1)
	for _, p := range planned {
		want = append(want, p.el)
	}
	if spec.LocalnetIface != "" {
		want = append(want, hpLocalnetElement(spec.LocalnetIface))
	}
	got, err := h.nft.Get(ctx, want)
	if err != nil {
		return false, err
	}
	tag := spec.Owner.Tag()
	for _, e := range got {
		if e == nil {
			continue
		}
		if e.Map == hpSetOwners && hpElemOwner(e) == tag {
			return true, nil
		}
		if st.find(e) == nil {
			st.Elements[e.Set+e.Map] = append(st.Elements[e.Set+e.Map], e)
		}
	}
	return false, nil
}

func hpLocalnetElement(iface string) *knftables.Element {
	return &knftables.Element{Set: hpSetLocalnet, Key: []string{strconv.Quote(iface)}, Comment: knftables.PtrTo(hpLocalnetNote)}
}

// hpTakeover records a host port that moved from one owner to another.
type hpTakeover struct{ mapping, from string }

// hpPlanNFTEnsure fills tx with what makes the table carry spec: missing
// or altered scaffolding, removal of the owner's stale elements and of
// other owners' elements on the same keys, then the owner's elements.
// localnet, when set, is an interface to add to the martian-drop set.
func hpPlanNFTEnsure(tx *hpTx, st *hpNFTState, spec *HostPortSpec, localnet string) []hpTakeover {
	if !st.Exists {
		tx.Add(&knftables.Table{})
	}
	for _, o := range hpNFTContainers() {
		if !st.hasContainer(o) {
			tx.Add(o)
		}
	}
	planned, condChains := hpNFTElements(spec)
	for _, c := range append(condChains, hpNFTFixedChains()...) {
		hpEnsureChain(tx, st, &c)
	}
	tag := spec.Owner.Tag()
	want := map[string]*knftables.Element{}
	for _, p := range planned {
		want[hpElemID(p.el)] = p.el
	}
	replaced := map[string]bool{}
	for _, e := range st.ownedBy(func(t string) bool { return t == tag }) {
		if p := want[hpElemID(e)]; p == nil || hpElemValue(p) != hpElemValue(e) {
			tx.Delete(hpElemRef(e))
			replaced[hpElemID(e)] = true
		}
	}
	var takeovers []hpTakeover
	for _, p := range planned {
		cur := st.find(p.el)
		switch {
		case cur == nil || replaced[hpElemID(p.el)]:
		case hpElemOwner(cur) == tag:
			continue // already in place
		default:
			tx.Delete(hpElemRef(cur))
			if p.el.Map != "" && strings.HasPrefix(p.el.Map, "dnat") {
				takeovers = append(takeovers, hpTakeover{mapping: p.m.String(), from: hpElemOwner(cur)})
			}
		}
		tx.Add(p.el)
	}
	if localnet != "" {
		if e := hpLocalnetElement(localnet); st.find(e) == nil {
			tx.Add(e)
		}
	}
	return takeovers
}

// hpEnsureChain (re)writes a chain unless it already has exactly its rules.
func hpEnsureChain(tx *hpTx, st *hpNFTState, c *hpNFTChain) {
	if st.chainMatches(c) {
		return
	}
	ch := c.chain
	tx.Add(&ch)
	tx.Flush(&knftables.Chain{Name: ch.Name})
	for _, r := range c.rules {
		tx.Add(&knftables.Rule{Chain: ch.Name, Rule: r.rule, Comment: knftables.PtrTo(r.comment)})
	}
}

// hpElemRef is the element reduced to what deleting it needs.
func hpElemRef(e *knftables.Element) *knftables.Element {
	return &knftables.Element{Set: e.Set, Map: e.Map, Key: e.Key}
}

// CheckHostPorts is part of HostPorts.
func (h *hpNFTables) CheckHostPorts(ctx context.Context, spec HostPortSpec) error {
	if len(spec.Mappings) == 0 {
		return nil
	}
	st, err := h.nft.Read(ctx)
	if err != nil {
		return err
	}
	if !st.Exists {
		return fmt.Errorf("check host ports of %s: table inet %s does not exist", spec.Owner.Tag(), hpNFTTable)
	}
	planned, condChains := hpNFTElements(&spec)
	for _, c := range append(condChains, hpNFTFixedChains()...) {
		if !st.chainMatches(&c) {
			return fmt.Errorf("check host ports of %s: chain inet %s %s is missing or altered: rules %q, want %q",
				spec.Owner.Tag(), hpNFTTable, c.chain.Name, st.Rules[c.chain.Name], c.comments())
		}
	}
	tag := spec.Owner.Tag()
	for _, p := range planned {
		cur := st.find(p.el)
		what := fmt.Sprintf("check host port %s of %s: %s element %s", p.m, tag, p.el.Set+p.el.Map, strings.Join(p.el.Key, " . "))
		if p.el.Map == hpSetOwners {
			what = fmt.Sprintf("check host ports of %s: owner marker %s", tag, p.el.Key[0])
		}
		switch {
		case cur == nil:
			return fmt.Errorf("%s is missing", what)
		case hpElemOwner(cur) != tag:
			return fmt.Errorf("%s belongs to %q", what, hpElemOwner(cur))
		case hpElemValue(cur) != hpElemValue(p.el):
			return fmt.Errorf("%s points at %s, want %s", what, hpElemValue(cur), hpElemValue(p.el))
		}
	}
	return nil
}

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
