package service

import "testing"

func TestQuotedCommandLine(t *testing.T) {
	tests := []struct {
		in, want string
		changed  bool
	}{
		{`C:\Program Files\Carrel\carrel-agent.exe service --config "C:\ProgramData\Carrel\agent.toml"`,
			`"C:\Program Files\Carrel\carrel-agent.exe" service --config "C:\ProgramData\Carrel\agent.toml"`, true},
		{`"C:\Program Files\Carrel\carrel-agent.exe" service`, `"C:\Program Files\Carrel\carrel-agent.exe" service`, false},
		{`C:\Carrel\carrel-agent.exe service`, `C:\Carrel\carrel-agent.exe service`, false},
		{`C:\Program Files\Carrel\carrel-agent.EXE`, `"C:\Program Files\Carrel\carrel-agent.EXE"`, true},
		{`C:\Program Files\x.exe.d\a.exe --x`, `"C:\Program Files\x.exe.d\a.exe" --x`, true},
		{`C:\Program Files\a.exe --config C:\b c\d.exe`, `"C:\Program Files\a.exe" --config C:\b c\d.exe`, true},
		{`C:\no exe here`, `C:\no exe here`, false},
	}
	for _, tt := range tests {
		got, changed := quotedCommandLine(tt.in)
		if got != tt.want || changed != tt.changed {
			t.Errorf("quotedCommandLine(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
		}
	}
}
