package knftables

import (
	"regexp"
	"sync"
)

// lazyRE compiles its expression on first use rather than at package
// initialization: most programs that import knftables never parse nft
// output, and short-lived ones (CNI plugins) pay the compile on every run.
// (podnet patch: see PODNET.md)
type lazyRE struct {
	expr string
	once sync.Once
	re   *regexp.Regexp
}

func newLazyRE(expr string) *lazyRE { return &lazyRE{expr: expr} }

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() { l.re = regexp.MustCompile(l.expr) })
	return l.re
}

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
