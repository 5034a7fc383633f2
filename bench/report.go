package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Report is everything one run measured; it is what -json writes.
type Report struct {
	Date    string  `json:"date"`
	Command string  `json:"command"`
	Machine Machine `json:"machine"`
	Pods    int     `json:"pods"`
	// Ours and Reference are the CNI_PATH dirs of the two sets.
	Ours      string    `json:"ours"`
	Reference string    `json:"reference"`
	Scenarios []*Result `json:"scenarios"`
	Seconds   float64   `json:"seconds"`
}

// Machine identifies where the run happened.
type Machine struct {
	Cores    int    `json:"cores"`
	CPU      string `json:"cpu,omitempty"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	IPTables string `json:"iptables,omitempty"`
	NFT      string `json:"nft,omitempty"`
}

// Scenario outcome states.
const (
	StatusOK      = "ok"
	StatusSkipped = "skipped"
	StatusFailed  = "failed"
)

// Result is the outcome of one scenario.
type Result struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Status is ok, skipped (Reason says why) or failed (Problems say why).
	Status string  `json:"status"`
	Reason string  `json:"reason,omitempty"`
	Tables []Table `json:"tables,omitempty"`
	// Problems are the failures and leaks found; any makes the run fail.
	Problems []string `json:"problems,omitempty"`
	Seconds  float64  `json:"seconds"`
}

// fail records a problem and marks the scenario failed.
func (r *Result) fail(format string, args ...any) {
	r.Status = StatusFailed
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// Table is one block of figures: rows of two samples and their ratio.
type Table struct {
	Title string `json:"title"`
	Unit  string `json:"unit"`
	// Columns name the two samples; normally "ours" and "reference".
	Columns [2]string `json:"columns"`
	Rows    []Row     `json:"rows"`
}

// Row compares two samples. Ratio is Ours.P50/Reference.P50, absent when the
// reference sample is empty or zero.
type Row struct {
	Label     string   `json:"label"`
	Ours      Summary  `json:"ours"`
	Reference Summary  `json:"reference"`
	Ratio     *float64 `json:"ratio,omitempty"`
}

// newRow builds a row and its ratio of medians.
func newRow(label string, ours, ref Summary) Row {
	r := Row{Label: label, Ours: ours, Reference: ref}
	if v := Ratio(ours.P50, ref.P50); !math.IsNaN(v) && ours.N > 0 {
		r.Ratio = &v
	}
	return r
}

// single reports whether every row holds single values (no percentiles).
func (t Table) single() bool {
	for _, r := range t.Rows {
		if r.Ours.N > 1 || r.Reference.N > 1 {
			return false
		}
	}
	return true
}

// WriteText renders the report as one readable table per scenario.
func (rep *Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "podnet bench, %s: %d cores, kernel %s, %s; %d pods\n", rep.Date, rep.Machine.Cores, rep.Machine.Kernel, rep.Machine.Go, rep.Pods)
	fmt.Fprintf(w, "ours: %s\nreference: %s\n", rep.Ours, rep.Reference)
	for _, s := range rep.Scenarios {
		s.WriteText(w)
	}
	fmt.Fprintf(w, "\n%s\ntotal %.1f s\n", rep.summaryLine(), rep.Seconds)
}

// WriteText renders one scenario.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "\n== %s: %s\n", r.Name, r.Description)
	switch r.Status {
	case StatusSkipped:
		fmt.Fprintf(w, "   skipped: %s\n", r.Reason)
		return
	case StatusFailed:
		for _, p := range r.Problems {
			fmt.Fprintf(w, "   FAILED: %s\n", p)
		}
	}
	for _, t := range r.Tables {
		t.writeText(w)
	}
	fmt.Fprintf(w, "   (%s, %.1f s)\n", r.Status, r.Seconds)
}

func (t Table) writeText(w io.Writer) {
	fmt.Fprintf(w, "   %s (%s)\n", t.Title, t.Unit)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	a, b := t.Columns[0], t.Columns[1]
	width := 0
	for _, r := range t.Rows {
		width = max(width, len(r.Label))
	}
	// Labels read best left-aligned: pad them so right alignment keeps them so.
	pad := func(s string) string { return fmt.Sprintf("%-*s", width, s) }
	if t.single() {
		fmt.Fprintf(tw, "\t\t%s\t%s\tratio\t\n", a, b)
		count := func(v float64, n int) string {
			if n == 0 {
				return "-"
			}
			return strconv.FormatFloat(v, 'f', 0, 64)
		}
		for _, r := range t.Rows {
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t\n", pad(r.Label), count(r.Ours.P50, r.Ours.N), count(r.Reference.P50, r.Reference.N), ratio(r.Ratio))
		}
	} else {
		fmt.Fprintf(tw, "\t\t%s p50\tp90\tp99\t%s p50\tp90\tp99\tratio p50\t\n", a, b)
		for _, r := range t.Rows {
			o, f := r.Ours, r.Reference
			fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", pad(r.Label),
				num(o.P50, o.N), tail(o.P90, o.N), tail(o.P99, o.N),
				num(f.P50, f.N), tail(f.P90, f.N), tail(f.P99, f.N), ratio(r.Ratio))
		}
	}
	_ = tw.Flush()
}

// num formats a figure with about three significant digits; "-" when the
// sample is empty.
func num(v float64, n int) string {
	switch {
	case n == 0:
		return "-"
	case math.Abs(v) >= 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case math.Abs(v) >= 100:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case math.Abs(v) >= 10:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 3, 64)
}

// tail formats a high percentile, blank for a single value.
func tail(v float64, n int) string {
	if n == 1 {
		return ""
	}
	return num(v, n)
}

func ratio(r *float64) string {
	if r == nil {
		return "-"
	}
	return strconv.FormatFloat(*r, 'f', 2, 64) + "x"
}

// WriteJSON writes the report to path, indented.
func (rep *Report) WriteJSON(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report %s: %w", path, err)
	}
	return nil
}

// Failed lists "scenario: problem" for every problem in the report.
func (rep *Report) Failed() []string {
	var out []string
	for _, s := range rep.Scenarios {
		for _, p := range s.Problems {
			out = append(out, s.Name+": "+p)
		}
	}
	return out
}

// summaryLine is a one-line verdict for the end of the text output.
func (rep *Report) summaryLine() string {
	var ok, skipped, failed []string
	for _, s := range rep.Scenarios {
		switch s.Status {
		case StatusOK:
			ok = append(ok, s.Name)
		case StatusSkipped:
			skipped = append(skipped, s.Name)
		default:
			failed = append(failed, s.Name)
		}
	}
	return fmt.Sprintf("ok: %s; skipped: %s; failed: %s", list(ok), list(skipped), list(failed))
}

func list(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
