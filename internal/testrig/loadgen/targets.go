package loadgen

import (
	"fmt"
	"strings"
	"time"
)

// The targets of this round (issue 11, 2026-12), in one place: every "met" or
// "MISSED" the load generator prints is judged against these.
const (
	TargetHubCPURatio = 2.0                   // hub CPU ≤ 2× the bare server holding the same fleet
	TargetPingP99     = 50 * time.Millisecond // staff ping round trip, p99
	TargetStorm       = 20 * time.Second      // every agent back after a hub SIGKILL, 0 lost, 0 duplicated
	TargetMemRatio    = 2.0                   // hub memory per connection ≤ 2× the bare server
	TargetAgentRSS    = 20 << 20              // idle agent, bytes, below
	TargetAgentCPU    = 0.2                   // idle agent, % of one core, below
)

func verdictOf(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// Verdict is one target and whether a measurement met it.
type Verdict struct {
	Target string
	Met    bool
}

func (v Verdict) String() string { return v.Target + ": " + verdictOf(v.Met) }

// Verdicts joins verdicts into the one "targets: ..." line the commands print.
func Verdicts(vs ...Verdict) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = v.String()
	}
	return "targets: " + strings.Join(parts, "; ")
}

// Verdicts of a run. bareCPU is the bare server's CPU (% of one core) holding
// the same fleet in the same session (from baseline); 0 leaves the CPU target
// unjudged.
func (r RunResult) Verdicts(bareCPU float64) []Verdict {
	vs := []Verdict{}
	if bareCPU > 0 {
		vs = append(vs, Verdict{fmt.Sprintf("hub CPU %.0f%% ≤ %.0f× the bare server's %.0f%% (%.2f×)", r.HubCPUMean, TargetHubCPURatio, bareCPU, r.HubCPUMean/bareCPU),
			r.HubCPUMean <= TargetHubCPURatio*bareCPU})
	}
	vs = append(vs,
		Verdict{fmt.Sprintf("staff ping p99 < %v", TargetPingP99), r.Command.N > 0 && r.Command.P99 < float64(TargetPingP99/time.Millisecond) && r.CommandErrs == 0},
		Verdict{"events exactly once", r.Account.OK()})
	return vs
}

// Verdicts of a storm: back within TargetStorm, nothing lost or twice.
func (r StormResult) Verdicts() []Verdict {
	return []Verdict{
		{fmt.Sprintf("all back < %v", TargetStorm), r.Back && r.AgentsBack < TargetStorm && r.HubOnline < TargetStorm},
		{"0 lost, 0 duplicated", r.Account.OK()},
	}
}

// Verdicts of a baseline: memory per connection and CPU while holding, hub
// against the bare server.
func (r BaselineResult) Verdicts() []Verdict {
	return []Verdict{
		{fmt.Sprintf("memory per connection ≤ %.0f× bare (%.2f×)", TargetMemRatio, r.Ratio()), r.Ratio() <= TargetMemRatio},
		{fmt.Sprintf("CPU holding ≤ %.0f× bare (%.2f×)", TargetHubCPURatio, r.CPURatio()), r.CPURatio() <= TargetHubCPURatio},
	}
}

// Verdicts of an idle agent's footprint.
func (r FootprintResult) Verdicts() []Verdict {
	return []Verdict{
		{fmt.Sprintf("RSS < %d MB", TargetAgentRSS>>20), r.MaxRSS < TargetAgentRSS},
		{fmt.Sprintf("CPU < %.1f%%", TargetAgentCPU), r.MeanCPU < TargetAgentCPU},
	}
}
