//go:build windows

package execguard

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

// Software Restriction Policy layout (the "Safer" policy under the machine's
// Policies key). Path rules live at CodeIdentifiers\<level>\Paths\{GUID}; level
// 0 is Disallowed.
const (
	saferKey        = `SOFTWARE\Policies\Microsoft\Windows\Safer\CodeIdentifiers`
	disallowedPaths = saferKey + `\0\Paths`
	// ruleDescription starts the Description of every rule Carrel writes; rules
	// without it (IT's own) are never touched.
	ruleDescription = "Carrel: patron-writable location"
	// createdMarker is set on CodeIdentifiers when Carrel created its default
	// values, so Remove takes back only what Carrel added.
	createdMarker     = "CarrelCreatedDefaults"
	levelUnrestricted = 0x40000
)

// executableTypes is Windows' default "designated file types" list for SRP.
var executableTypes = []string{"ADE", "ADP", "BAS", "BAT", "CHM", "CMD", "COM", "CPL", "CRT", "EXE",
	"HLP", "HTA", "INF", "INS", "ISP", "LNK", "MDB", "MDE", "MSC", "MSI", "MSP", "MST", "OCX", "PCD",
	"PIF", "REG", "SCR", "SHS", "URL", "VB", "WSC"}

// srpEnforcer writes one Disallowed path rule per root. Windows enforces them
// in CreateProcess (and ShellExecute) for new processes; Run has nothing to
// answer and only waits.
type srpEnforcer struct {
	log  *slog.Logger
	sink EventSink
	mu   sync.Mutex // serialises registry edits
}

var _ Enforcer = (*srpEnforcer)(nil)

// NewEnforcer returns the SRP enforcer. It needs write access to HKLM.
func NewEnforcer(sink EventSink, log *slog.Logger) (Enforcer, error) {
	return &srpEnforcer{log: log, sink: sink}, nil
}

func (e *srpEnforcer) Run(ctx context.Context) error {
	<-ctx.Done()
	return nil
}

// ruleGUID is a stable name for the rule of root, so Apply is idempotent.
func ruleGUID(root string) string {
	h := sha1.Sum([]byte("carrel-srp:" + strings.ToLower(filepath.Clean(root))))
	h[6] = h[6]&0x0f | 0x50 // version 5 (name-based, SHA-1)
	h[8] = h[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("{%x-%x-%x-%x-%x}", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

// Apply writes a Disallowed rule for every root and deletes Carrel's rules for
// roots no longer listed.
func (e *srpEnforcer) Apply(roots []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := ensureDefaults(); err != nil {
		return err
	}
	paths, _, err := registry.CreateKey(registry.LOCAL_MACHINE, disallowedPaths, registry.ALL_ACCESS)
	if err != nil {
		return fmt.Errorf("open SRP path rules: %w", err)
	}
	defer paths.Close()
	want := map[string]bool{}
	var errs []error
	ft := windows.NsecToFiletime(time.Now().UnixNano())
	for _, r := range newRootSet(roots).roots {
		guid := ruleGUID(r)
		want[strings.ToLower(guid)] = true
		k, _, err := registry.CreateKey(paths, guid, registry.ALL_ACCESS)
		if err != nil {
			errs = append(errs, fmt.Errorf("write SRP rule for %s: %w", r, err))
			continue
		}
		err = errors.Join(
			k.SetStringValue("Description", ruleDescription),
			k.SetExpandStringValue("ItemData", r),
			k.SetDWordValue("SaferFlags", 0),
			k.SetQWordValue("LastModified", uint64(ft.HighDateTime)<<32|uint64(ft.LowDateTime)),
		)
		k.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("write SRP rule for %s: %w", r, err))
		}
	}
	errs = append(errs, deleteRules(paths, want))
	return errors.Join(errs...)
}

// ensureDefaults gives CodeIdentifiers the values SRP needs to be in force
// (default level Unrestricted, so only the path rules disallow) when IT has not
// configured SRP already; it never changes values IT set.
func ensureDefaults() error {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, saferKey, registry.ALL_ACCESS)
	if err != nil {
		return fmt.Errorf("open SRP policy: %w", err)
	}
	defer k.Close()
	if _, _, err := k.GetIntegerValue("DefaultLevel"); err == nil {
		return nil
	}
	return errors.Join(
		k.SetDWordValue("DefaultLevel", levelUnrestricted),
		k.SetDWordValue("TransparentEnabled", 1),
		k.SetDWordValue("PolicyScope", 0),
		k.SetDWordValue("AuthenticodeEnabled", 0),
		k.SetStringsValue("ExecutableTypes", executableTypes),
		k.SetDWordValue(createdMarker, 1),
	)
}

// deleteRules deletes Carrel's rules whose GUID is not in keep.
func deleteRules(paths registry.Key, keep map[string]bool) error {
	names, err := paths.ReadSubKeyNames(-1)
	if err != nil {
		return fmt.Errorf("list SRP rules: %w", err)
	}
	var errs []error
	for _, name := range names {
		if keep[strings.ToLower(name)] {
			continue
		}
		k, err := registry.OpenKey(paths, name, registry.QUERY_VALUE)
		if err != nil {
			continue
		}
		desc, _, _ := k.GetStringValue("Description")
		k.Close()
		if !strings.HasPrefix(desc, "Carrel:") {
			continue
		}
		if err := registry.DeleteKey(paths, name); err != nil {
			errs = append(errs, fmt.Errorf("delete SRP rule %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// Remove deletes every rule Carrel wrote and the defaults it created, leaving
// IT's own SRP configuration as it was.
func (e *srpEnforcer) Remove() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	paths, err := registry.OpenKey(registry.LOCAL_MACHINE, disallowedPaths, registry.ALL_ACCESS)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("open SRP path rules: %w", err)
	}
	err = deleteRules(paths, nil)
	rest, _ := paths.ReadSubKeyNames(-1)
	paths.Close()
	if err != nil {
		return err
	}
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, saferKey, registry.ALL_ACCESS)
	if err != nil {
		return fmt.Errorf("open SRP policy: %w", err)
	}
	defer k.Close()
	if v, _, err := k.GetIntegerValue(createdMarker); err != nil || v != 1 {
		return nil // IT's SRP configuration: leave its values alone
	}
	for _, name := range []string{"DefaultLevel", "TransparentEnabled", "PolicyScope", "AuthenticodeEnabled", "ExecutableTypes", createdMarker} {
		k.DeleteValue(name)
	}
	if len(rest) == 0 {
		registry.DeleteKey(registry.LOCAL_MACHINE, disallowedPaths)
		registry.DeleteKey(registry.LOCAL_MACHINE, saferKey+`\0`)
	}
	return nil
}
