package policy

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
)

// Waiver accepts the failures of one Control Tower rule on named resources.
type Waiver struct {
	// Rule is the cfn-guard rule name.
	Rule string `json:"rule"`
	// Control is the rule's Control Tower control ID, e.g. CT.S3.PR.2.
	Control string `json:"control"`
	// Resources are the logical IDs the waiver covers.
	Resources []string `json:"resources"`
	// Reason says why the resource may fail the rule.
	Reason string `json:"reason"`
}

var controlID = regexp.MustCompile(`^CT\.[A-Z0-9]+\.PR\.\d+$`)

// LoadWaivers reads a waiver file: {"waivers": [Waiver, ...]}. Every waiver
// must name its rule, control, resources and a reason.
func LoadWaivers(path string) ([]Waiver, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var file struct {
		Waivers []Waiver `json:"waivers"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for i, w := range file.Waivers {
		switch {
		case w.Rule == "":
			return nil, fmt.Errorf("%s: waiver %d has no rule", path, i+1)
		case !controlID.MatchString(w.Control):
			return nil, fmt.Errorf("%s: waiver %d (%s): control %q is not a Control Tower ID like CT.S3.PR.2", path, i+1, w.Rule, w.Control)
		case len(w.Resources) == 0:
			return nil, fmt.Errorf("%s: waiver %d (%s): no resources", path, i+1, w.Rule)
		case len(w.Reason) < 20:
			return nil, fmt.Errorf("%s: waiver %d (%s): the reason must say why the failure is accepted", path, i+1, w.Rule)
		}
	}
	return file.Waivers, nil
}

// Ledger applies waivers to violations and remembers which waivers were
// used, so that a waiver nothing needs any more shows up as stale.
type Ledger struct {
	waivers map[waived]bool
}

type waived struct{ rule, control, resource string }

// NewLedger starts a ledger over the waivers.
func NewLedger(waivers []Waiver) *Ledger {
	l := &Ledger{waivers: map[waived]bool{}}
	for _, w := range waivers {
		for _, r := range w.Resources {
			l.waivers[waived{w.Rule, w.Control, r}] = false
		}
	}
	return l
}

// Unwaived returns the violations no waiver covers, and records the use of
// those that cover the others.
func (l *Ledger) Unwaived(violations []Violation) []Violation {
	var out []Violation
	for _, v := range violations {
		k := waived{v.Rule, v.Control, v.Resource}
		if _, ok := l.waivers[k]; ok {
			l.waivers[k] = true
			continue
		}
		out = append(out, v)
	}
	return out
}

// Stale lists the waived rule and resource pairs that no violation used.
func (l *Ledger) Stale() []string {
	var out []string
	for k, used := range l.waivers {
		if !used {
			out = append(out, fmt.Sprintf("%s %s on %s", k.control, k.rule, k.resource))
		}
	}
	sort.Strings(out)
	return out
}
