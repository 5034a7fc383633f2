package netfilter

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"time"

	gnft "github.com/google/nftables"
	"github.com/google/nftables/userdata"
	"sigs.k8s.io/knftables"
)

// hpNFTKernel is hpNFT on the running kernel. Element changes go over
// netlink; other writes exec `nft -f -` with the transaction knftables
// renders; reads go over netlink. No exec on the hot path.
//
// It does not use knftables.New: that probes the nft binary with two more
// execs (--version and --check) at every construction, and a CNI plugin is
// a new process on every call, so the probe would double the cost of an
// ADD. The transaction text is the same.
type hpNFTKernel struct {
	// tmpl only renders transactions bound to our family and table; it is
	// never run.
	tmpl *knftables.Fake
	// writer sends element transactions. It stays open until the process
	// exits, on purpose: closing a netfilter netlink socket waits for the
	// kernel's deferred destruction of deleted elements (an RCU grace
	// period, about 5 ms), which by exit time, after the rest of DEL,
	// has usually happened on its own.
	writer *gnft.Conn
}

func newHPNFTKernel() *hpNFTKernel {
	return &hpNFTKernel{tmpl: knftables.NewFake(knftables.InetFamily, hpNFTTable)}
}

// Run is part of hpNFT: over netlink when tx only changes elements,
// else with `nft -f -` (creating or repairing the scaffolding, GC).
// Equivalent to: `nft -f - <<< "$tx"`.
func (k *hpNFTKernel) Run(ctx context.Context, tx *hpTx) error {
	if tx.elementsOnly() {
		if k.writer == nil {
			c, err := gnft.New(gnft.AsLasting())
			if err != nil {
				return fmt.Errorf("open nftables netlink socket: %w", err)
			}
			k.writer = c
		}
		return hpRunNetlink(k.writer, tx)
	}
	ktx := k.tmpl.NewTransaction()
	tx.into(ktx)
	script := ktx.String()
	if i := strings.Index(script, "# ERROR: "); i >= 0 {
		return fmt.Errorf("build nftables transaction: %s", script[i+len("# ERROR: "):])
	}
	path, err := exec.LookPath("nft")
	if err != nil {
		return fmt.Errorf("run nft: %w", err)
	}
	cmd := exec.CommandContext(ctx, path, "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return hpNFTExecError(stderr.String(), err)
	}
	return nil
}

// hpNFTError is a failed nft run: its first error lines, and the errno
// they name (ENOENT, EEXIST, EBUSY), so callers can classify it.
type hpNFTError struct {
	msg   string
	errno syscall.Errno
}

func (e *hpNFTError) Error() string { return e.msg }

func (e *hpNFTError) Unwrap() error {
	if e.errno == 0 {
		return nil
	}
	return e.errno
}

func hpNFTExecError(stderr string, err error) error {
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if len(lines) > 3 {
		lines = lines[:3]
	}
	e := &hpNFTError{msg: fmt.Sprintf("nft -f -: %v: %s", err, strings.Join(lines, " | "))}
	for _, c := range []struct {
		text  string
		errno syscall.Errno
	}{{"No such file or directory", syscall.ENOENT}, {"File exists", syscall.EEXIST}, {"Device or resource busy", syscall.EBUSY}} {
		if strings.Contains(lines[0], c.text) {
			e.errno = c.errno
			break
		}
	}
	return e
}

// hpReadAttempts bounds the retries of a read that raced a commit.
const hpReadAttempts = 50

// Read is part of hpNFT: about twenty netlink dumps, no exec, repeated
// until no transaction committed while it ran.
func (k *hpNFTKernel) Read(_ context.Context) (*hpNFTState, error) {
	for i := 0; ; i++ {
		gen, err := hpNFTGen()
		if err != nil {
			if hpNoNFTables(err) {
				return &hpNFTState{}, nil
			}
			return nil, err
		}
		st, err := hpReadOnce(true)
		if err != nil {
			return nil, err
		}
		after, err := hpNFTGen()
		if err != nil {
			return nil, err
		}
		if after == gen {
			return st, nil
		}
		if i == hpReadAttempts {
			return nil, fmt.Errorf("read table inet %s: the ruleset changed during each of %d reads", hpNFTTable, i+1)
		}
		time.Sleep(time.Duration(i%5+1) * time.Millisecond)
	}
}

// ReadScaffold is part of hpNFT: the table, its sets and maps (listed
// empty) and its chains' rules; a handful of dumps whose size does not
// depend on the pods.
func (k *hpNFTKernel) ReadScaffold(_ context.Context) (*hpNFTState, error) {
	return hpReadOnce(false)
}

// hpReadOnce reads the table once, with or without the elements; the
// caller of a read with elements checks it was consistent.
func hpReadOnce(elements bool) (*hpNFTState, error) {
	c, err := gnft.New(gnft.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("open nftables netlink socket: %w", err)
	}
	defer c.CloseLasting()
	tables, err := c.ListTablesOfFamily(gnft.TableFamilyINet)
	if err != nil {
		if hpNoNFTables(err) {
			return &hpNFTState{}, nil
		}
		return nil, fmt.Errorf("list inet nftables tables: %w", err)
	}
	var t *gnft.Table
	for _, x := range tables {
		if x.Name == hpNFTTable {
			t = x
		}
	}
	if t == nil {
		return &hpNFTState{}, nil
	}
	st := &hpNFTState{Exists: true, Elements: map[string][]*knftables.Element{}, Rules: map[string][]string{}}
	if err := hpReadSets(c, t, st, elements); err != nil {
		return nil, err
	}
	if err := hpReadChains(c, t, st); err != nil {
		return nil, err
	}
	return st, nil
}

// hpNoNFTables reports a kernel without nf_tables: nothing of ours there.
func hpNoNFTables(err error) bool {
	return errors.Is(err, syscall.EPROTONOSUPPORT) || errors.Is(err, syscall.EAFNOSUPPORT) ||
		errors.Is(err, syscall.EOPNOTSUPP) || strings.Contains(err.Error(), "protocol not supported")
}

func hpReadSets(c *gnft.Conn, t *gnft.Table, st *hpNFTState, elements bool) error {
	sets, err := c.GetSets(t)
	if err != nil {
		return fmt.Errorf("list sets of table inet %s: %w", hpNFTTable, err)
	}
	for _, s := range sets {
		if !elements {
			st.Elements[s.Name] = []*knftables.Element{}
			continue
		}
		els, err := c.GetSetElements(s)
		if err != nil {
			return fmt.Errorf("list elements of inet %s %s: %w", hpNFTTable, s.Name, err)
		}
		list := []*knftables.Element{}
		for _, e := range els {
			ke, err := hpDecodeElement(s, e)
			if err != nil {
				return fmt.Errorf("decode element of inet %s %s: %w", hpNFTTable, s.Name, err)
			}
			if ke != nil {
				list = append(list, ke)
			}
		}
		st.Elements[s.Name] = list
	}
	return nil
}

func hpReadChains(c *gnft.Conn, t *gnft.Table, st *hpNFTState) error {
	chains, err := c.ListChainsOfTableFamily(gnft.TableFamilyINet)
	if err != nil {
		return fmt.Errorf("list chains of table inet %s: %w", hpNFTTable, err)
	}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != hpNFTTable {
			continue
		}
		rules, err := c.GetRules(t, ch)
		if err != nil {
			return fmt.Errorf("list rules of chain inet %s %s: %w", hpNFTTable, ch.Name, err)
		}
		comments := []string{}
		for _, r := range rules {
			s, _ := userdata.GetString(r.UserData, userdata.TypeComment)
			comments = append(comments, s)
		}
		st.Rules[ch.Name] = comments
	}
	return nil
}

// HostPortTableExists reports whether this node already forwards host ports
// with nftables (podnet's table is there). An automatic backend choice
// takes it as the answer: one netlink dump instead of probing the tools.
func HostPortTableExists() bool {
	c, err := gnft.New()
	if err != nil {
		return false
	}
	tables, err := c.ListTablesOfFamily(gnft.TableFamilyINet)
	if err != nil {
		return false
	}
	for _, t := range tables {
		if t.Name == hpNFTTable {
			return true
		}
	}
	return false
}
