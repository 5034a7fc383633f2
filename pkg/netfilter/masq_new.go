package netfilter

import (
	"fmt"
)

// NewMasquerader returns the Masquerader of a backend (IPTables or
// NFTables; resolve "" with Choose first).
//
// Construction is cheap and probes nothing: reads go through netlink (nft)
// or one iptables-save per family, and the nft tool is only started when
// something must be written. An unusable backend is reported by the first
// call that needs it.
func NewMasquerader(backend Backend) (Masquerader, error) {
	switch backend {
	case NFTables:
		return newNFTMasq(), nil
	case IPTables:
		return newIPTMasq(ExecRestorer{}, defaultMasqLockPath), nil
	}
	return nil, fmt.Errorf("new masquerader: unknown netfilter backend %q", backend)
}
