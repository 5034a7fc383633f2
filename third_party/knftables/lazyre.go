package knftables

import (
	"fmt"
	"regexp"
	"sync"
)

// lazyRE compiles its expression on first use rather than at package
// initialization: most programs that import knftables never parse nft
// output, and short-lived ones (CNI plugins) pay the compile on every run.
// (podnet patch: see PODNET.md)
type lazyRE struct {
	expr string
	// format and args, when format is set, make expr on first use: the
	// fmt.Sprintf of the expressions also ran at initialization.
	format string
	args   []any
	once   sync.Once
	re     *regexp.Regexp
}

func newLazyRE(expr string) *lazyRE { return &lazyRE{expr: expr} }

// newLazyREf is newLazyRE(fmt.Sprintf(format, args...)), formatted on first
// use.
func newLazyREf(format string, args ...any) *lazyRE {
	return &lazyRE{format: format, args: args}
}

func (l *lazyRE) get() *regexp.Regexp {
	l.once.Do(func() {
		if l.format != "" {
			l.expr = fmt.Sprintf(l.format, l.args...)
		}
		l.re = regexp.MustCompile(l.expr)
	})
	return l.re
}

// FindStringSubmatch is regexp.Regexp.FindStringSubmatch.
func (l *lazyRE) FindStringSubmatch(s string) []string { return l.get().FindStringSubmatch(s) }
