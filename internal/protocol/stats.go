package protocol

// Metric names a usage counter (DESIGN.md, "Reports, retention and the API").
// Counters are bumped when things happen, per branch, PC and hour, with a Label
// that splits a metric (a refusal's reason, card or guest), and kept for good:
// deleting events or session detail never changes a past report. They count;
// they never name a patron.
type Metric string

const (
	MetricSessions      Metric = "sessions"       // patron sessions started; label: PatronKind, or "" for an OS logon without sign-in
	MetricMinutes       Metric = "minutes"        // minutes of patron sessions, counted at their end; label: PatronKind or ""
	MetricSignIns       Metric = "signins"        // sign-ins granted; label: PatronKind
	MetricSignInRefused Metric = "signin-refused" // sign-ins refused; label: the Refusal
	MetricWipes         Metric = "wipes"          // wipes at logout; label: "clean" or "dirty"
	MetricWipeReadyMS   Metric = "wipe-ready-ms"  // sum of ms until the PC was ready again (with MetricWipes clean: the mean)
	MetricBlocked       Metric = "blocked"        // downloads blocked; label: the kind of file (the classifier's reason)
	MetricExecBlocked   Metric = "exec-blocked"   // programs refused by the exec guard
	MetricGuestPasses   Metric = "guest-passes"   // guest passes made by staff
	MetricDeleted       Metric = "deleted"        // rows deleted by retention; label: what (events, sessions, ...)
)

// Metrics lists every metric in a stable order.
var Metrics = []Metric{MetricSessions, MetricMinutes, MetricSignIns, MetricSignInRefused, MetricWipes,
	MetricWipeReadyMS, MetricBlocked, MetricExecBlocked, MetricGuestPasses, MetricDeleted}

// Known reports whether m is in Metrics.
func (m Metric) Known() bool {
	for _, k := range Metrics {
		if m == k {
			return true
		}
	}
	return false
}
