package netfilter

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// hpFakeIPT is a Restorer that applies iptables-restore --noflush input to
// an in-memory nat and filter table per family, with the semantics the
// host-port code relies on: a chain declaration creates or flushes, -A/-I
// need the chain and a known target, -D needs the exact rule, -X needs an
// empty unreferenced chain, and a failing input changes nothing.
type hpFakeIPT struct {
	mu       sync.Mutex
	tables   map[Family]map[string]*hpFakeTable
	restores []string // every input applied, in order
	saves    int
}

type hpFakeTable struct {
	chains map[string][]string
}

var hpBuiltin = map[string][]string{
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
}

var hpFakeTargets = map[string]bool{"DNAT": true, "MARK": true, "MASQUERADE": true, "DROP": true, "ACCEPT": true, "RETURN": true, "KUBE-MARK-MASQ": true}

func newHPFakeIPT() *hpFakeIPT {
	f := &hpFakeIPT{tables: map[Family]map[string]*hpFakeTable{}}
	for _, fam := range []Family{IPv4, IPv6} {
		f.tables[fam] = map[string]*hpFakeTable{}
		for name, builtins := range hpBuiltin {
			t := &hpFakeTable{chains: map[string][]string{}}
			for _, c := range builtins {
				t.chains[c] = nil
			}
			f.tables[fam][name] = t
		}
	}
	return f
}

func (t *hpFakeTable) clone() *hpFakeTable {
	c := &hpFakeTable{chains: map[string][]string{}}
	for k, v := range t.chains {
		c.chains[k] = append([]string(nil), v...)
	}
	return c
}

// Restore is part of Restorer.
func (f *hpFakeIPT) Restore(_ context.Context, fam Family, input string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	work := map[string]*hpFakeTable{}
	for k, v := range f.tables[fam] {
		work[k] = v.clone()
	}
	var cur *hpFakeTable
	for i, line := range strings.Split(input, "\n") {
		var err error
		switch {
		case line == "" || line == "COMMIT":
		case strings.HasPrefix(line, "*"):
			cur = work[line[1:]]
			if cur == nil {
				err = fmt.Errorf("unknown table")
			}
		default:
			err = cur.apply(line)
		}
		if err != nil {
			return fmt.Errorf("%s: line %d failed: %v: %q", fam.restoreTool(), i+1, err, line)
		}
	}
	f.tables[fam] = work
	f.restores = append(f.restores, input)
	return nil
}

func (t *hpFakeTable) apply(line string) error {
	if strings.HasPrefix(line, ":") {
		name, _, _ := strings.Cut(line[1:], " ")
		t.chains[name] = nil
		return nil
	}
	op, rest, _ := strings.Cut(line, " ")
	chain, spec, _ := strings.Cut(rest, " ")
	rules, ok := t.chains[chain]
	if !ok {
		return fmt.Errorf("no chain %s", chain)
	}
	switch op {
	case "-A", "-I":
		if target := hpIPTTarget(spec); target != "" && !hpFakeTargets[target] {
			if _, ok := t.chains[target]; !ok {
				return fmt.Errorf("no target %s", target)
			}
		}
		if op == "-A" {
			t.chains[chain] = append(rules, spec)
		} else {
			spec = strings.TrimPrefix(spec, "1 ")
			t.chains[chain] = append([]string{spec}, rules...)
		}
	case "-D":
		for i, r := range rules {
			if r == spec {
				t.chains[chain] = append(rules[:i:i], rules[i+1:]...)
				return nil
			}
		}
		return fmt.Errorf("no such rule")
	case "-X":
		if len(rules) > 0 {
			return fmt.Errorf("chain not empty")
		}
		for _, rs := range t.chains {
			for _, r := range rs {
				if hpIPTTarget(r) == chain {
					return fmt.Errorf("chain referenced")
				}
			}
		}
		delete(t.chains, chain)
	default:
		return fmt.Errorf("unsupported %s", op)
	}
	return nil
}

// Save is part of Restorer: builtin chains first, then user chains sorted,
// as iptables-save prints them.
func (f *hpFakeIPT) Save(_ context.Context, fam Family, table string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.saves++
	return f.tables[fam][table].dump(table), nil
}

func (t *hpFakeTable) dump(table string) string {
	builtin := map[string]bool{}
	var order []string
	var b strings.Builder
	fmt.Fprintf(&b, "*%s\n", table)
	for _, c := range hpBuiltin[table] {
		builtin[c] = true
		order = append(order, c)
		fmt.Fprintf(&b, ":%s ACCEPT [0:0]\n", c)
	}
	var user []string
	for c := range t.chains {
		if !builtin[c] {
			user = append(user, c)
		}
	}
	sort.Strings(user)
	for _, c := range user {
		fmt.Fprintf(&b, ":%s - [0:0]\n", c)
	}
	for _, c := range append(order, user...) {
		for _, r := range t.chains[c] {
			fmt.Fprintf(&b, "-A %s %s\n", c, r)
		}
	}
	b.WriteString("COMMIT\n")
	return b.String()
}

// dumpAll renders both families' nat and filter tables.
func (f *hpFakeIPT) dumpAll() string {
	var b strings.Builder
	for _, fam := range []Family{IPv4, IPv6} {
		fmt.Fprintf(&b, "# %s\n", fam.saveTool())
		for _, table := range []string{"nat", "filter"} {
			b.WriteString(f.tables[fam][table].dump(table))
		}
	}
	return b.String()
}
