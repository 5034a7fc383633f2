package netfilter

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"

	"sigs.k8s.io/knftables"
)

// MAC spoof checking for bridge ports (the bridge plugin's macspoofchk).
// It lives here because knftables stays inside this package; the file name
// follows the package's ownership split (it is not about masquerading).
//
//	table bridge podnet-spoofcheck
//	  set ports    { type ifname }              checked ports
//	  set allowed  { type ifname . ether_addr } each port's own MAC
//	  chain prerouting  filter hook, priority -300:
//	    iifname @ports iifname . ether saddr != @allowed drop
//
// Per attachment there are exactly two elements, both commented with the
// attachment key, so DEL and GC find them without the pod or its veth.
const (
	spoofTable   = "podnet-spoofcheck"
	spoofChain   = "prerouting"
	spoofPorts   = "ports"
	spoofAllowed = "allowed"
	spoofNote    = "podnet: drop frames whose source MAC is not the port's pod's"
)

// SpoofChecker drops frames a pod sends with a source MAC other than the
// one its attachment was given.
type SpoofChecker struct {
	nft func() (knftables.Interface, error)
}

// NewSpoofChecker returns the checker that works on the kernel; the nft
// tool is started on first use.
func NewSpoofChecker() *SpoofChecker {
	var nft knftables.Interface
	return &SpoofChecker{nft: func() (knftables.Interface, error) {
		if nft != nil {
			return nft, nil
		}
		n, err := knftables.New(knftables.BridgeFamily, spoofTable)
		if err != nil {
			return nil, fmt.Errorf("open nftables table bridge %s: %w", spoofTable, err)
		}
		nft = n
		return nft, nil
	}}
}

// newSpoofCheckerWith returns a checker over nft (knftables.Fake in tests).
func newSpoofCheckerWith(nft knftables.Interface) *SpoofChecker {
	return &SpoofChecker{nft: func() (knftables.Interface, error) { return nft, nil }}
}

// SpoofKey names an attachment in the elements' comments.
func SpoofKey(network, containerID, ifName string) string {
	s := network + "/" + containerID + "/" + ifName
	return s[:min(len(s), 127)]
}

// EnsureSpoofCheck makes port accept only frames from mac. In the common
// case (table in place) it is one transaction adding two elements; when
// the table is missing it creates it in the same transaction.
func (s *SpoofChecker) EnsureSpoofCheck(ctx context.Context, key, port string, mac net.HardwareAddr) error {
	nft, err := s.nft()
	if err != nil {
		return err
	}
	tx := nft.NewTransaction()
	planSpoofElements(tx, key, port, mac)
	err = nft.Run(ctx, tx)
	if isNotFound(err) {
		tx = nft.NewTransaction()
		planSpoofTable(tx)
		planSpoofElements(tx, key, port, mac)
		err = nft.Run(ctx, tx)
	}
	if err != nil {
		return fmt.Errorf("ensure MAC spoof check of %q (port %q, MAC %s): %w", key, port, mac, err)
	}
	return nil
}

func planSpoofTable(tx *knftables.Transaction) {
	tx.Add(&knftables.Table{Comment: knftables.PtrTo(spoofNote)})
	tx.Add(&knftables.Set{Name: spoofPorts, Type: "ifname"})
	tx.Add(&knftables.Set{Name: spoofAllowed, Type: "ifname . ether_addr"})
	tx.Add(&knftables.Chain{
		Name:     spoofChain,
		Type:     knftables.PtrTo(knftables.FilterType),
		Hook:     knftables.PtrTo(knftables.PreroutingHook),
		Priority: knftables.PtrTo(knftables.BaseChainPriority("-300")),
	})
	tx.Flush(&knftables.Chain{Name: spoofChain})
	tx.Add(&knftables.Rule{
		Chain:   spoofChain,
		Rule:    "iifname @" + spoofPorts + " iifname . ether saddr != @" + spoofAllowed + " drop",
		Comment: knftables.PtrTo(spoofNote),
	})
}

func planSpoofElements(tx *knftables.Transaction, key, port string, mac net.HardwareAddr) {
	tx.Add(&knftables.Element{Set: spoofPorts, Key: []string{quoteNFT(port)}, Comment: &key})
	tx.Add(&knftables.Element{Set: spoofAllowed, Key: []string{quoteNFT(port), mac.String()}, Comment: &key})
}

func quoteNFT(s string) string { return `"` + s + `"` }

// CheckSpoofCheck verifies that port is checked and allows exactly mac.
func (s *SpoofChecker) CheckSpoofCheck(ctx context.Context, key, port string, mac net.HardwareAddr) error {
	nft, err := s.nft()
	if err != nil {
		return err
	}
	rules, err := nft.ListRules(ctx, spoofChain)
	if err != nil || len(rules) != 1 {
		return fmt.Errorf("check MAC spoof check of %q: chain bridge %s %s: %d rules, %v", key, spoofTable, spoofChain, len(rules), err)
	}
	want := map[string]string{spoofPorts: port, spoofAllowed: port + " . " + mac.String()}
	for set, el := range want {
		els, err := nft.ListElements(ctx, "set", set)
		if err != nil {
			return fmt.Errorf("check MAC spoof check of %q: %w", key, err)
		}
		if !slices.ContainsFunc(els, func(e *knftables.Element) bool { return unquoteKey(e.Key) == el }) {
			return fmt.Errorf("check MAC spoof check of %q: set bridge %s %s lacks %s", key, spoofTable, set, el)
		}
	}
	return nil
}

func unquoteKey(k []string) string {
	out := make([]string, len(k))
	for i, p := range k {
		out[i] = strings.Trim(p, `"`)
	}
	return strings.Join(out, " . ")
}

// DeleteSpoofCheck removes the elements of one attachment, found by their
// comment; the inverse of EnsureSpoofCheck. Missing elements or table are
// fine.
func (s *SpoofChecker) DeleteSpoofCheck(ctx context.Context, key string) error {
	return s.deleteWhere(ctx, func(c string) bool { return c == key })
}

// GCSpoofCheck removes the elements of the network's attachments whose key
// is not in valid (keys as SpoofKey makes them).
func (s *SpoofChecker) GCSpoofCheck(ctx context.Context, network string, valid map[string]bool) error {
	return s.deleteWhere(ctx, func(c string) bool { return strings.HasPrefix(c, network+"/") && !valid[c] })
}

// deleteWhere deletes, in one transaction, every element whose comment
// matches; the table goes when nothing is left in it.
func (s *SpoofChecker) deleteWhere(ctx context.Context, match func(comment string) bool) error {
	nft, err := s.nft()
	if err != nil {
		return err
	}
	tx := nft.NewTransaction()
	left := 0
	for _, set := range []string{spoofPorts, spoofAllowed} {
		els, err := nft.ListElements(ctx, "set", set)
		if isNotFound(err) {
			return nil // no table: nothing to delete
		}
		if err != nil {
			return fmt.Errorf("delete MAC spoof check: list set bridge %s %s: %w", spoofTable, set, err)
		}
		for _, e := range els {
			if e.Comment != nil && match(*e.Comment) {
				tx.Delete(&knftables.Element{Set: set, Key: quoteKeys(e.Key)})
			} else {
				left++
			}
		}
	}
	if left == 0 {
		tx = nft.NewTransaction()
		tx.Delete(&knftables.Table{})
	}
	if tx.NumOperations() == 0 {
		return nil
	}
	if err := nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("delete MAC spoof check elements from table bridge %s: %w", spoofTable, err)
	}
	return nil
}

// quoteKeys re-quotes the interface name of a key read back from nft.
func quoteKeys(k []string) []string {
	out := slices.Clone(k)
	if len(out) > 0 {
		out[0] = quoteNFT(strings.Trim(out[0], `"`))
	}
	return out
}
