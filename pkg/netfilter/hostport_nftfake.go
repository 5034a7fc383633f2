package netfilter

import (
	"context"

	"sigs.k8s.io/knftables"
)

// hpNFTFake is hpNFT on knftables.Fake, for tests: Dump() is the golden.
type hpNFTFake struct {
	*knftables.Fake
}

func newHPNFTFake() *hpNFTFake {
	return &hpNFTFake{Fake: knftables.NewFake(knftables.InetFamily, hpNFTTable)}
}

// Run is part of hpNFT.
func (f *hpNFTFake) Run(ctx context.Context, tx *hpTx) error {
	ktx := f.NewTransaction()
	tx.into(ktx)
	return f.Fake.Run(ctx, ktx)
}

// ReadScaffold is part of hpNFT.
func (f *hpNFTFake) ReadScaffold(ctx context.Context) (*hpNFTState, error) {
	st, err := f.Read(ctx)
	for name := range st.Elements {
		st.Elements[name] = []*knftables.Element{}
	}
	return st, err
}

// Get is part of hpNFT. Keys are compared exactly (the kernel would also
// find a range containing them).
func (f *hpNFTFake) Get(ctx context.Context, want []*knftables.Element) ([]*knftables.Element, error) {
	st, err := f.Read(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]*knftables.Element, len(want))
	for i, e := range want {
		out[i] = st.find(e)
	}
	return out, nil
}

// Read is part of hpNFT.
func (f *hpNFTFake) Read(_ context.Context) (*hpNFTState, error) {
	f.RLock()
	defer f.RUnlock()
	t := f.Table
	if t == nil {
		return &hpNFTState{}, nil
	}
	st := &hpNFTState{Exists: true, Elements: map[string][]*knftables.Element{}, Rules: map[string][]string{}}
	copyEls := func(name string, els []*knftables.Element) {
		list := []*knftables.Element{}
		for _, e := range els {
			c := *e
			list = append(list, &c)
		}
		st.Elements[name] = list
	}
	for name, s := range t.Sets {
		copyEls(name, s.Elements)
	}
	for name, m := range t.Maps {
		copyEls(name, m.Elements)
	}
	for name, c := range t.Chains {
		comments := []string{}
		for _, r := range c.Rules {
			s := ""
			if r.Comment != nil {
				s = *r.Comment
			}
			comments = append(comments, s)
		}
		st.Rules[name] = comments
	}
	return st, nil
}
