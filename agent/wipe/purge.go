package wipe

// purgeOpts says what purgeTree removes.
type purgeOpts struct {
	// keepRoot keeps the top directory itself (empty it only).
	keepRoot bool
	// onlyUID >= 0 removes only entries owned by that uid; directories of others
	// are walked but kept. -1 removes everything.
	onlyUID int
	// chmodUID >= 0 lets directories owned by that uid be given a+rwx so they can
	// be emptied (only inside the root-only trash). Files are never chmodded.
	chmodUID int
	// dryRun removes nothing and lists what would be removed as leftovers.
	dryRun bool
	// retries is how often a directory that refills is emptied again.
	retries int
	// maxLeft caps the leftovers listed.
	maxLeft int
	// workers > 1 purges subtrees in parallel (full removal only).
	workers int
}

// purgeResult is what purgeTree did.
type purgeResult struct {
	Files     int64 // non-directories removed
	Dirs      int64
	Bytes     int64 // sizes of the regular files removed
	Leftovers []Leftover
}

func (r *purgeResult) leftover(max int, path, reason string) {
	if max > 0 && len(r.Leftovers) >= max {
		return
	}
	r.Leftovers = append(r.Leftovers, Leftover{Path: path, Reason: reason})
}
