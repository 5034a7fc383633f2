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
