package netfilter

import "sigs.k8s.io/knftables"

// hpTx records the operations of one host-port transaction. The kernel
// runner sends a transaction of element changes only (every ADD and DEL
// once the scaffolding exists) as one netlink batch, in-process, and
// anything else through `nft -f`; both are atomic. The fake runs it on
// knftables.Fake. The operations are knftables objects either way, so the
// goldens show exactly what the kernel gets.
type hpTx struct{ ops []hpOp }

type hpVerb int

const (
	hpAdd hpVerb = iota
	hpDelete
	hpFlush
)

// hpOp is one operation of a transaction.
type hpOp struct {
	verb hpVerb
	obj  knftables.Object
}

// Add is knftables' Transaction.Add.
func (t *hpTx) Add(o knftables.Object) { t.ops = append(t.ops, hpOp{hpAdd, o}) }

// Delete is knftables' Transaction.Delete.
func (t *hpTx) Delete(o knftables.Object) { t.ops = append(t.ops, hpOp{hpDelete, o}) }

// Flush is knftables' Transaction.Flush.
func (t *hpTx) Flush(o knftables.Object) { t.ops = append(t.ops, hpOp{hpFlush, o}) }

// NumOperations is the number of operations recorded.
func (t *hpTx) NumOperations() int { return len(t.ops) }

// into replays the operations on a knftables transaction.
func (t *hpTx) into(tx *knftables.Transaction) {
	for _, op := range t.ops {
		switch op.verb {
		case hpAdd:
			tx.Add(op.obj)
		case hpDelete:
			tx.Delete(op.obj)
		case hpFlush:
			tx.Flush(op.obj)
		}
	}
}

// elementsOnly reports whether the transaction only adds and deletes
// elements.
func (t *hpTx) elementsOnly() bool {
	for _, op := range t.ops {
		if _, ok := op.obj.(*knftables.Element); !ok || op.verb == hpFlush {
			return false
		}
	}
	return true
}
