package netfilter

import "context"

// ChooseMasquerade resolves the backend for masquerading like Choose, but
// without starting a tool when the answer is already on the node: when
// podnet's nftables masquerade table exists (one netlink read), nftables is
// in use and works. Otherwise it is Choose, which probes. A non-empty
// backend is returned unchanged.
func ChooseMasquerade(b Backend) Backend {
	if b != "" {
		return b
	}
	if _, err := newNFTNetlinkReader(masqTable).List(context.Background(), "chain"); err == nil {
		return NFTables
	}
	return Choose(b)
}
