package netfilter

import (
	"strings"
)

// hpIPTTable is one table of iptables-save output: its chains and, per
// chain, its rules as the text after "-A <chain> ".
type hpIPTTable struct {
	chains map[string]bool
	rules  map[string][]string
}

// hpParseSave reads `iptables-save -t <table>` output. Empty output (a
// table that does not exist) is an empty table.
func hpParseSave(out string) *hpIPTTable {
	t := &hpIPTTable{chains: map[string]bool{}, rules: map[string][]string{}}
	for _, line := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(line, ":"):
			name, _, _ := strings.Cut(line[1:], " ")
			t.chains[name] = true
		case strings.HasPrefix(line, "-A "):
			chain, spec, _ := strings.Cut(line[3:], " ")
			t.rules[chain] = append(t.rules[chain], spec)
		}
	}
	return t
}

// hasRule reports whether chain has exactly the rule spec.
func (t *hpIPTTable) hasRule(chain, spec string) bool {
	for _, r := range t.rules[chain] {
		if r == spec {
			return true
		}
	}
	return false
}

// hpSplitArgs splits a saved rule into arguments, undoing iptables-save's
// double quotes and backslash escapes.
func hpSplitArgs(s string) []string {
	var args []string
	var cur strings.Builder
	inQuote, escaped, have := false, false, false
	for _, r := range s {
		switch {
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case r == '\\':
			escaped, have = true, true
		case r == '"':
			inQuote, have = !inQuote, true
		case r == ' ' && !inQuote:
			if have {
				args = append(args, cur.String())
				cur.Reset()
				have = false
			}
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	if have {
		args = append(args, cur.String())
	}
	return args
}

// hpIPTOpt returns the argument after the first occurrence of opt in a
// saved rule, or "".
func hpIPTOpt(spec, opt string) string {
	args := hpSplitArgs(spec)
	for i := 0; i+1 < len(args); i++ {
		if args[i] == opt {
			return args[i+1]
		}
	}
	return ""
}

// hpIPTTarget is the rule's -j target.
func hpIPTTarget(spec string) string { return hpIPTOpt(spec, "-j") }

// hpIPTComment is the rule's comment.
func hpIPTComment(spec string) string { return hpIPTOpt(spec, "--comment") }
