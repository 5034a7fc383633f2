package netfilter

import (
	"context"
	"fmt"
	"log/slog"
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
