package netfilter

import (
	"fmt"
	"net/netip"
	"strings"
)

// iptSaved is one table of iptables-save output: its chains and rules.
type iptSaved struct {
	// chains holds every declared chain, built-in or not.
	chains map[string]bool
	rules  []iptRule
}

// iptRule is one "-A chain ..." line.
type iptRule struct {
	chain string
	// spec is the text after "-A <chain> ", as iptables-save printed it; "-D
	// <chain> <spec>" deletes the rule.
	spec string
	args []string
}

// parseIPTSave reads the output of `iptables-save -t <table>`. Empty input
// (no such table yet) is an empty table.
func parseIPTSave(out string) (*iptSaved, error) {
	t := &iptSaved{chains: map[string]bool{}}
	for n, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "", line == "COMMIT", strings.HasPrefix(line, "#"), strings.HasPrefix(line, "*"):
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			t.chains[name] = true
		case strings.HasPrefix(line, "-A "):
			chain, spec, _ := strings.Cut(line[3:], " ")
			args, err := splitIPTArgs(spec)
			if err != nil {
				return nil, fmt.Errorf("iptables-save line %d %q: %w", n+1, line, err)
			}
			t.rules = append(t.rules, iptRule{chain: chain, spec: spec, args: args})
		default:
			return nil, fmt.Errorf("iptables-save line %d %q: unexpected", n+1, line)
		}
	}
	return t, nil
}

// splitIPTArgs splits a rule the way iptables-restore does: on blanks,
// with "double quotes" grouping and backslash escaping inside them.
func splitIPTArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	inQuote, have := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '"':
			inQuote, have = !inQuote, true
		case !inQuote && (c == ' ' || c == '\t'):
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	if inQuote {
		return nil, fmt.Errorf("unterminated quote")
	}
	if have {
		args = append(args, cur.String())
	}
	return args, nil
}

// opt returns the value of a rule option such as "-s" or "-j", or "".
func (r iptRule) opt(name string) string {
	for i := 0; i+1 < len(r.args); i++ {
		if r.args[i] == name {
			return r.args[i+1]
		}
	}
	return ""
}

// prefixOpt returns a prefix-valued option ("-s", "-d"), if present.
func (r iptRule) prefixOpt(name string) (netip.Prefix, bool) {
	v := r.opt(name)
	if v == "" || strings.HasPrefix(v, "!") {
		return netip.Prefix{}, false
	}
	return parsePrefix(v)
}

// rulesOf returns the rules of one chain, in order.
func (t *iptSaved) rulesOf(chain string) []iptRule {
	var out []iptRule
	for _, r := range t.rules {
		if r.chain == chain {
			out = append(out, r)
		}
	}
	return out
}

// quoteIPTArg quotes a value for iptables-restore input.
func quoteIPTArg(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}
