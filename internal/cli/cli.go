// Package cli is the subcommand dispatcher the Carrel programs share: a name, a
// table of subcommands, --help and version, exit codes 0 success, 1 failure,
// 2 bad usage, and a context that ends on SIGINT or SIGTERM.
package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Command is one subcommand. Run gets the arguments after its name and returns
// the process exit code.
type Command struct {
	Name    string
	Summary string // one line for the top-level help
	Hidden  bool   // left out of the help (internal entry points)
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// Program is a command line program made of subcommands.
type Program struct {
	Name    string // "carrel-hub"
	Version string // printed by "version" and "--version"; none if empty
	Header  string // the help's first lines; default "usage: NAME COMMAND [flags]"
	Footer  string // the help's last lines
	cmds    map[string]Command
}

// Register adds a subcommand. A name registered twice is a programming error.
func (p *Program) Register(c Command) {
	if p.cmds == nil {
		p.cmds = map[string]Command{}
	}
	if _, dup := p.cmds[c.Name]; dup || c.Name == "" || c.Run == nil {
		panic(fmt.Sprintf("%s: subcommand %q registered twice or incomplete", p.Name, c.Name))
	}
	p.cmds[c.Name] = c
}

// Main runs the program on os.Args with a context that ends on SIGINT or SIGTERM,
// and exits with its code.
func (p *Program) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := p.Dispatch(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Dispatch runs the subcommand args[0] names and returns the exit code. No
// arguments prints the help and returns 2; help, -h and --help print it and
// return 0.
func (p *Program) Dispatch(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		p.Usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if p.Version != "" && (args[0] == "version" || args[0] == "--version") {
		fmt.Fprintln(stdout, p.Name, p.Version)
		return 0
	}
	c, ok := p.cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "%s: unknown command %q; run '%s --help' for the list\n", p.Name, args[0], p.Name)
		return 2
	}
	return c.Run(ctx, args[1:], stdout, stderr)
}

// Usage writes the help: the header, one line per visible subcommand in name
// order, then the footer.
func (p *Program) Usage(w io.Writer) {
	header := p.Header
	if header == "" {
		header = "usage: " + p.Name + " COMMAND [flags]\n\ncommands:"
	}
	fmt.Fprintln(w, strings.TrimRight(header, "\n"))
	var names []string
	width := 10
	for n, c := range p.cmds {
		if !c.Hidden {
			names = append(names, n)
			width = max(width, len(n)+2)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-*s %s\n", width, n, p.cmds[n].Summary)
	}
	if p.Version != "" {
		fmt.Fprintf(w, "  %-*s %s\n", width, "version", "print the version")
	}
	if p.Footer != "" {
		fmt.Fprintln(w, "\n"+strings.TrimSpace(p.Footer))
	}
}

// SplitList is a comma-separated flag value as a list, blanks dropped
// ("a, b,,c" is a, b and c).
func SplitList(s string) []string {
	var out []string
	for _, n := range strings.Split(s, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Duration is a flag value for a length of time that also takes whole days
// ("30d", "1d12h"), which retention settings are counted in; otherwise Go's
// syntax ("24h", "90m").
type Duration struct{ D *time.Duration }

func (d Duration) String() string {
	if d.D == nil {
		return ""
	}
	if *d.D > 0 && *d.D%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", *d.D/(24*time.Hour))
	}
	return d.D.String()
}

func (d Duration) Set(s string) error {
	var days int64
	rest := s
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.ParseInt(s[:i], 10, 32)
		if err != nil || n < 0 {
			return fmt.Errorf("%q: days must be a whole number, as in 30d", s)
		}
		days, rest = n, s[i+1:]
	}
	var extra time.Duration
	if rest != "" {
		v, err := time.ParseDuration(rest)
		if err != nil {
			return fmt.Errorf("%q is not a duration (30d, 24h, 90m)", s)
		}
		extra = v
	}
	*d.D = time.Duration(days)*24*time.Hour + extra
	return nil
}
