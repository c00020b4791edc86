package wsserve

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestQuietLog(t *testing.T) {
	var buf strings.Builder
	q := NewQuietLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), time.Hour)
	q.Warn("t-1", "Refused", "n", 1)
	q.Warn("t-1", "Refused", "n", 2)
	q.Warn("t-2", "Refused", "n", 3)
	q.Warn("t-1", "Other", "n", 4)
	got := buf.String()
	for _, want := range []string{`level=WARN msg=Refused n=1`, `level=DEBUG msg=Refused n=2`, `level=WARN msg=Refused n=3`, `level=WARN msg=Other n=4`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	q.window = 0 // the window has passed: warn again
	q.Warn("t-1", "Refused", "n", 5)
	if !strings.Contains(buf.String(), `level=WARN msg=Refused n=5`) {
		t.Error("no Warn after the window")
	}
}
