package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/carrel-kiosk/carrel/internal/directory"
	"github.com/carrel-kiosk/carrel/internal/protocol"
	"github.com/carrel-kiosk/carrel/internal/staffapi"
)

// stdin is where 'admin create' reads the password; tests replace it.
var stdin io.Reader = os.Stdin

const adminUsage = `usage: carrel-hub admin create --user NAME --role admin|desk [--password-stdin] [--data DIR]
       carrel-hub admin list [--json] [--data DIR]
       carrel-hub admin unlock --user NAME [--data DIR]
       carrel-hub admin reset-totp --user NAME [--data DIR]`

// runAdmin manages staff accounts from the server's shell: the way to make the
// first admin without the setup code, or another one when every admin is locked
// out; to lift a lock (unlock) and to give a member who lost their
// authenticator a new TOTP secret (reset-totp). Each is audited as the local
// user. No account exists until one is made, here or by first-run setup.
func runAdmin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, adminUsage)
		return 2
	}
	switch args[0] {
	case "create":
		return runAdminCreate(ctx, args[1:], stdout, stderr)
	case "list":
		return runAdminList(ctx, args[1:], stdout, stderr)
	case "unlock":
		return runAdminUnlock(ctx, args[1:], stdout, stderr)
	case "reset-totp":
		return runAdminResetTOTP(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, adminUsage)
		return 0
	}
	fmt.Fprintln(stderr, adminUsage)
	return 2
}

func runAdminCreate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("admin create", "--user NAME (--role admin|desk [--password-stdin] | --directory)", stderr)
	user := fs.String("user", "", "the staff member's user name (required)")
	role := fs.String("role", "", "admin (everything) or desk (watch, message, lock, end session) (required without --directory)")
	fromStdin := fs.Bool("password-stdin", false, "read the password from the first line of stdin instead of prompting")
	dirAcct := fs.Bool("directory", false, "the library's directory (LDAP, Active Directory: <data>/"+directory.FileName+") checks the password and gives the role from the groups")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	if *dirAcct {
		if *user == "" || *role != "" || *fromStdin {
			fmt.Fprintln(stderr, "carrel-hub admin create --directory: give --user only (the directory holds the password and the role)")
			return 2
		}
		_, st, err := openExisting(*data)
		if err != nil {
			return fail(stderr, err)
		}
		defer st.Close()
		r, err := staffapi.CreateDirectoryStaff(ctx, st, *data, *user, localActor())
		if err != nil {
			return fail(stderr, err)
		}
		fmt.Fprintf(stdout, "Directory staff member %s created; the directory checks the password and gives the role.\n\nTOTP secret: %s\nTOTP URI:    %s\n\n"+
			"Add it to an authenticator app now (type the secret, or make a QR code of the URI);\n"+
			"it is not shown again. Log in with the directory password and the app's 6-digit code.\n", r.User, r.TOTPSecret, r.TOTPURI)
		return 0
	}
	if *user == "" || !protocol.Role(*role).Valid() {
		fmt.Fprintln(stderr, "carrel-hub admin create: --user and --role admin|desk are required")
		return 2
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	pw, err := readNewPassword(*fromStdin, stderr)
	if err != nil {
		return fail(stderr, err)
	}
	r, err := staffapi.CreateStaff(ctx, st, *data, *user, pw, protocol.Role(*role), localActor(), false)
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Staff member %s (%s) created.\n\nTOTP secret: %s\nTOTP URI:    %s\n\n"+
		"Add it to an authenticator app now (type the secret, or make a QR code of the URI);\n"+
		"it is not shown again. Log in with the password and the app's 6-digit code.\n", r.User, *role, r.TOTPSecret, r.TOTPURI)
	return 0
}

// runAdminUnlock lifts the lock that failed logins from the network put on an
// account (the running hub sees it at the next login). A lock on logins from
// the hub's own machine is the running hub's alone: it ends after the lockout
// or when the hub restarts.
func runAdminUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("admin unlock", "--user NAME", stderr)
	user := fs.String("user", "", "the staff member's user name (required)")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	if *user == "" {
		fmt.Fprintln(stderr, "carrel-hub admin unlock: --user is required")
		return 2
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	was, err := st.UnlockStaff(ctx, *user, localActor())
	if err != nil {
		return fail(stderr, err)
	}
	if was.IsZero() {
		fmt.Fprintf(stdout, "Staff member %s was not locked; the count of failed logins is cleared.\n", *user)
	} else {
		fmt.Fprintf(stdout, "Staff member %s unlocked (was locked until %s).\n", *user, was.Local().Format("15:04"))
	}
	return 0
}

// runAdminResetTOTP gives an account a new TOTP secret, shown once, and ends
// its sessions: the old authenticator no longer logs in.
func runAdminResetTOTP(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("admin reset-totp", "--user NAME", stderr)
	user := fs.String("user", "", "the staff member's user name (required)")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	if *user == "" {
		fmt.Fprintln(stderr, "carrel-hub admin reset-totp: --user is required")
		return 2
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	r, err := staffapi.ResetTOTP(ctx, st, *user, localActor())
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "Staff member %s has a new TOTP secret; the old one and its sessions no longer work.\n\n"+
		"TOTP secret: %s\nTOTP URI:    %s\n\n"+
		"Add it to an authenticator app now (type the secret, or make a QR code of the URI);\n"+
		"it is not shown again.\n", r.User, r.TOTPSecret, r.TOTPURI)
	return 0
}

// readNewPassword reads the password: from stdin's first line, or from the
// terminal twice without echo.
func readNewPassword(fromStdin bool, stderr io.Writer) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password: %w", err)
		}
		return strings.TrimRight(line, "\r\n"), nil
	}
	f, ok := stdin.(*os.File)
	if !ok || !isTerminal(f) {
		return "", errors.New("stdin is not a terminal: pass --password-stdin to read the password from it")
	}
	fmt.Fprint(stderr, "Password: ")
	pw, err := readNoEcho(f)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	fmt.Fprint(stderr, "Again: ")
	again, err := readNoEcho(f)
	fmt.Fprintln(stderr)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	if pw != again {
		return "", errors.New("the passwords differ")
	}
	return pw, nil
}

type staffJSON struct {
	User      string     `json:"user"`
	Role      string     `json:"role"`
	Disabled  bool       `json:"disabled"`
	Locked    bool       `json:"locked"`
	Created   time.Time  `json:"created"`
	LastLogin *time.Time `json:"last_login,omitempty"`
}

func runAdminList(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, data := newFlags("admin list", "[--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON, one account a line")
	if code := parse(fs, args, exactly(0)); code >= 0 {
		return code
	}
	_, st, err := openExisting(*data)
	if err != nil {
		return fail(stderr, err)
	}
	defer st.Close()
	as, err := st.StaffList(ctx)
	if err != nil {
		return fail(stderr, err)
	}
	now := time.Now()
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, a := range as {
			j := staffJSON{User: a.User, Role: a.Role, Disabled: a.Disabled, Locked: now.Before(a.LockedUntil), Created: a.Created.UTC()}
			if !a.LastLogin.IsZero() {
				t := a.LastLogin.UTC()
				j.LastLogin = &t
			}
			enc.Encode(j)
		}
		return 0
	}
	if len(as) == 0 {
		fmt.Fprintln(stdout, "no staff accounts yet: use the setup code in the console, or 'carrel-hub admin create'")
		return 0
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "USER\tROLE\tSTATE\tCREATED\tLAST LOGIN")
	for _, a := range as {
		state := "active"
		switch {
		case a.Disabled:
			state = "disabled"
		case now.Before(a.LockedUntil):
			state = "locked until " + a.LockedUntil.Format("15:04")
		}
		last := "never"
		if !a.LastLogin.IsZero() {
			last = a.LastLogin.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", a.User, a.Role, state, a.Created.Format(time.RFC3339), last)
	}
	tw.Flush()
	return 0
}
