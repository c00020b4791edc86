//go:build windows

package browserpolicy

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/registry"
)

func platformDownloadDirs() (chromium, firefox string) {
	return `${user_home}\Downloads`, `${home}\Downloads`
}

// registryKeys are the policy keys under HKLM\SOFTWARE\Policies.
var registryKeys = map[string]string{
	Chrome:   `Google\Chrome`,
	Edge:     `Microsoft\Edge`,
	Chromium: `Chromium`,
	Firefox:  `Mozilla\Firefox`,
}

// policiesBase is the HKLM key the policy keys live under: SOFTWARE\Policies,
// or for a test root a key of its own, so a test can never touch a real
// machine's policies.
func (m *Manager) policiesBase() string {
	if m.root == "" {
		return `SOFTWARE\Policies`
	}
	sum := sha256.Sum256([]byte(m.root))
	return `SOFTWARE\CarrelTest\` + hex.EncodeToString(sum[:6]) + `\Policies`
}

func (m *Manager) platformTargets() ([]target, error) {
	base := m.policiesBase()
	var ts []target
	for _, b := range allBrowsers {
		if !m.cfg.manages(b) {
			continue
		}
		values, subkeys := toRegistry(forBrowser(m.cfg, b))
		t := &regTarget{browser: b, base: base, key: registryKeys[b], values: values, subkeys: subkeys}
		if b == Firefox {
			t.foreign = m.firefoxDistributionFiles()
			t.takeOver = m.cfg.TakeOverFirefox
		}
		ts = append(ts, t)
	}
	return ts, nil
}

// firefoxDistributionFiles are the policies.json files of Firefox's usual
// install folders. Firefox ignores them as soon as a registry policy exists.
func (m *Manager) firefoxDistributionFiles() []string {
	var dirs []string
	if m.root != "" {
		dirs = []string{filepath.Join(m.root, "Program Files"), filepath.Join(m.root, "Program Files (x86)")}
	} else {
		for _, env := range []string{"ProgramFiles", "ProgramFiles(x86)"} {
			if d := os.Getenv(env); d != "" {
				dirs = append(dirs, d)
			}
		}
	}
	var files []string
	for _, d := range dirs {
		files = append(files, filepath.Join(d, "Mozilla Firefox", "distribution", "policies.json"))
	}
	return files
}

// regValue is one registry value Carrel writes: a DWORD or a REG_SZ.
type regValue struct {
	kind uint32 // registry.DWORD or registry.SZ
	num  uint32
	str  string
}

// toRegistry turns a policy into values of the browser's key and subkeys Carrel
// owns whole: a list becomes values "1", "2"... (an empty list: a subkey that
// must not exist), an object of scalars a subkey of values, and an object of
// objects (Firefox's ExtensionSettings) one REG_SZ holding JSON.
func toRegistry(p policy) (values map[string]regValue, subkeys map[string]map[string]regValue) {
	values, subkeys = map[string]regValue{}, map[string]map[string]regValue{}
	for name, v := range p {
		switch v := v.(type) {
		case []string:
			subkeys[name] = nil
			if len(v) > 0 {
				sk := map[string]regValue{}
				for i, s := range v {
					sk[strconv.Itoa(i+1)] = regValue{kind: registry.SZ, str: s}
				}
				subkeys[name] = sk
			}
		case map[string]any:
			if sk, ok := scalarValues(v); ok {
				subkeys[name] = sk
				continue
			}
			buf, err := json.Marshal(v)
			if err != nil {
				panic("browserpolicy: policy does not encode: " + err.Error())
			}
			values[name] = regValue{kind: registry.SZ, str: string(buf)}
		default:
			rv, ok := scalarValue(v)
			if !ok {
				panic(fmt.Sprintf("browserpolicy: no registry form for %T", v))
			}
			values[name] = rv
		}
	}
	return values, subkeys
}

func scalarValue(v any) (regValue, bool) {
	switch v := v.(type) {
	case bool:
		if v {
			return regValue{kind: registry.DWORD, num: 1}, true
		}
		return regValue{kind: registry.DWORD}, true
	case int:
		return regValue{kind: registry.DWORD, num: uint32(v)}, true
	case string:
		return regValue{kind: registry.SZ, str: v}, true
	}
	return regValue{}, false
}

func scalarValues(m map[string]any) (map[string]regValue, bool) {
	out := map[string]regValue{}
	for k, v := range m {
		rv, ok := scalarValue(v)
		if !ok {
			return nil, false
		}
		out[k] = rv
	}
	return out, true
}

// regTarget is one browser's policy key in HKLM. Carrel owns the named values
// and subkeys it writes there, nothing else: values another tool (GPO) sets in
// the same key stay.
type regTarget struct {
	browser string
	base    string // e.g. SOFTWARE\Policies
	key     string // e.g. Google\Chrome
	values  map[string]regValue
	subkeys map[string]map[string]regValue
	// foreign lists policy files that would be overridden (Firefox); takeOver
	// allows that.
	foreign  []string
	takeOver bool
}

var _ target = (*regTarget)(nil)

func (t *regTarget) Browser() string  { return t.browser }
func (t *regTarget) path() string     { return t.base + `\` + t.key }
func (t *regTarget) Location() string { return `HKLM\` + t.path() }

func (t *regTarget) Ensure() (bool, error) {
	if err := t.checkForeign(); err != nil {
		return false, err
	}
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, t.path(), registry.ALL_ACCESS)
	if err != nil {
		return false, fmt.Errorf("write %s policy: %w", t.browser, err)
	}
	defer k.Close()
	changed := false
	for _, name := range sortedKeys(t.values) {
		c, err := ensureValue(k, name, t.values[name])
		if err != nil {
			return changed, fmt.Errorf("write %s policy %s: %w", t.browser, name, err)
		}
		changed = changed || c
	}
	for _, name := range sortedKeys(t.subkeys) {
		c, err := ensureSubkey(k, name, t.subkeys[name])
		if err != nil {
			return changed, fmt.Errorf("write %s policy %s: %w", t.browser, name, err)
		}
		changed = changed || c
	}
	return changed, nil
}

// Check reads the key back: every value and subkey Carrel writes must hold
// exactly what Ensure writes (a subkey Carrel removes must be absent).
func (t *regTarget) Check() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, t.path(), registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS)
	if errors.Is(err, registry.ErrNotExist) {
		return fmt.Errorf("%s is missing", t.Location())
	}
	if err != nil {
		return fmt.Errorf("read back %s policy: %w", t.browser, err)
	}
	defer k.Close()
	for _, name := range sortedKeys(t.values) {
		ok, err := valueIs(k, name, t.values[name])
		if err != nil {
			return fmt.Errorf("read back %s policy %s: %w", t.browser, name, err)
		}
		if !ok {
			return fmt.Errorf("%s\\%s does not hold Carrel's value", t.Location(), name)
		}
	}
	for _, name := range sortedKeys(t.subkeys) {
		want := t.subkeys[name]
		sk, err := registry.OpenKey(k, name, registry.QUERY_VALUE)
		if want == nil {
			if err == nil {
				sk.Close()
				return fmt.Errorf("%s\\%s exists; Carrel removes it", t.Location(), name)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("%s\\%s is missing", t.Location(), name)
		}
		names, err := sk.ReadValueNames(-1)
		if err == nil && len(names) != len(want) {
			err = fmt.Errorf("%s\\%s holds %d values, Carrel writes %d", t.Location(), name, len(names), len(want))
		}
		for _, n := range sortedKeys(want) {
			if err != nil {
				break
			}
			var ok bool
			if ok, err = valueIs(sk, n, want[n]); err == nil && !ok {
				err = fmt.Errorf("%s\\%s\\%s does not hold Carrel's value", t.Location(), name, n)
			}
		}
		sk.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *regTarget) checkForeign() error {
	for _, f := range t.foreign {
		data, err := readLimited(f)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("check %s policy: %w", t.browser, err)
		}
		if ours, _ := inspectFirefoxJSON(data); ours || t.takeOver {
			continue
		}
		return fmt.Errorf("%w: %s (Firefox ignores it once registry policies exist; set take_over_firefox to override it)", ErrForeignPolicy, f)
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// valueIs reports whether the value exists with exactly the wanted type and data.
func valueIs(k registry.Key, name string, want regValue) (bool, error) {
	var (
		typ uint32
		err error
		ok  bool
	)
	switch want.kind {
	case registry.DWORD:
		var n uint64
		n, typ, err = k.GetIntegerValue(name)
		ok = typ == registry.DWORD && uint32(n) == want.num
	default:
		var s string
		s, typ, err = k.GetStringValue(name)
		ok = typ == registry.SZ && s == want.str
	}
	if errors.Is(err, registry.ErrNotExist) || errors.Is(err, registry.ErrUnexpectedType) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return ok, nil
}

func ensureValue(k registry.Key, name string, want regValue) (bool, error) {
	ok, err := valueIs(k, name, want)
	if err != nil || ok {
		return false, err
	}
	if want.kind == registry.DWORD {
		return true, k.SetDWordValue(name, want.num)
	}
	return true, k.SetStringValue(name, want.str)
}

// ensureSubkey makes subkey name hold exactly want (nil: makes it absent).
func ensureSubkey(parent registry.Key, name string, want map[string]regValue) (bool, error) {
	if want == nil {
		err := deleteTree(parent, name)
		if errors.Is(err, registry.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	k, _, err := registry.CreateKey(parent, name, registry.ALL_ACCESS)
	if err != nil {
		return false, err
	}
	defer k.Close()
	names, err := k.ReadValueNames(-1)
	if err != nil {
		return false, err
	}
	changed := false
	for _, n := range names {
		if _, ok := want[n]; !ok {
			if err := k.DeleteValue(n); err != nil {
				return changed, err
			}
			changed = true
		}
	}
	for _, n := range sortedKeys(want) {
		c, err := ensureValue(k, n, want[n])
		if err != nil {
			return changed, err
		}
		changed = changed || c
	}
	return changed, nil
}

// deleteTree deletes subkey name of parent with everything under it.
func deleteTree(parent registry.Key, name string) error {
	k, err := registry.OpenKey(parent, name, registry.ALL_ACCESS)
	if err != nil {
		return err
	}
	subs, err := k.ReadSubKeyNames(-1)
	if err == nil {
		for _, s := range subs {
			if err = deleteTree(k, s); err != nil {
				break
			}
		}
	}
	k.Close()
	if err != nil {
		return err
	}
	return registry.DeleteKey(parent, name)
}

// Remove deletes the values and subkeys Carrel writes, then the browser's key
// and its vendor key if nothing else is left in them.
func (t *regTarget) Remove() error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, t.path(), registry.ALL_ACCESS)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove %s policy: %w", t.browser, err)
	}
	defer k.Close()
	for _, name := range sortedKeys(t.values) {
		if err := k.DeleteValue(name); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("remove %s policy %s: %w", t.browser, name, err)
		}
	}
	for _, name := range sortedKeys(t.subkeys) {
		if err := deleteTree(k, name); err != nil && !errors.Is(err, registry.ErrNotExist) {
			return fmt.Errorf("remove %s policy %s: %w", t.browser, name, err)
		}
	}
	// Drop the key, then the vendor key, while they are empty.
	for p := t.path(); p != t.base; p = p[:strings.LastIndex(p, `\`)] {
		if err := deleteIfEmpty(p); err != nil {
			return fmt.Errorf("remove %s policy: %w", t.browser, err)
		}
	}
	return nil
}

func deleteIfEmpty(path string) error {
	k, err := registry.OpenKey(registry.LOCAL_MACHINE, path, registry.QUERY_VALUE|registry.ENUMERATE_SUB_KEYS)
	if errors.Is(err, registry.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	st, err := k.Stat()
	k.Close()
	if err != nil || st.SubKeyCount != 0 || st.ValueCount != 0 {
		return err
	}
	i := strings.LastIndex(path, `\`)
	parent, err := registry.OpenKey(registry.LOCAL_MACHINE, path[:i], registry.ALL_ACCESS)
	if err != nil {
		return err
	}
	defer parent.Close()
	return registry.DeleteKey(parent, path[i+1:])
}

// regNotifier wakes the Manager on any change under the policies base key
// (RegNotifyChangeKeyValue on the whole subtree).
type regNotifier struct {
	key   registry.Key
	event windows.Handle // signalled by the registry
	stop  windows.Handle // signalled by Close
	c     chan struct{}
	done  chan struct{}
}

var _ notifier = (*regNotifier)(nil)

const regNotifyFilter = windows.REG_NOTIFY_CHANGE_NAME | windows.REG_NOTIFY_CHANGE_LAST_SET |
	windows.REG_NOTIFY_CHANGE_ATTRIBUTES | windows.REG_NOTIFY_CHANGE_SECURITY

func newNotifier(m *Manager) (notifier, error) {
	k, _, err := registry.CreateKey(registry.LOCAL_MACHINE, m.policiesBase(), registry.NOTIFY|registry.QUERY_VALUE)
	if err != nil {
		return nil, fmt.Errorf("open policies key: %w", err)
	}
	n := &regNotifier{key: k, c: make(chan struct{}, 1), done: make(chan struct{})}
	if n.event, err = windows.CreateEvent(nil, 0, 0, nil); err == nil {
		n.stop, err = windows.CreateEvent(nil, 1, 0, nil)
	}
	if err != nil {
		n.closeHandles()
		return nil, fmt.Errorf("create event: %w", err)
	}
	armed := make(chan error, 1)
	go n.loop(armed)
	if err := <-armed; err != nil {
		<-n.done
		n.closeHandles()
		return nil, fmt.Errorf("registry change notification: %w", err)
	}
	return n, nil
}

// loop runs on one locked OS thread: a registration ends when the thread that
// made it exits (before Windows 8), and Go may otherwise move the goroutine.
func (n *regNotifier) loop(armed chan<- error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer close(n.done)
	defer close(n.c)
	arm := func() error {
		return windows.RegNotifyChangeKeyValue(windows.Handle(n.key), true, regNotifyFilter, n.event, true)
	}
	err := arm()
	armed <- err
	if err != nil {
		return
	}
	for {
		ev, err := windows.WaitForMultipleObjects([]windows.Handle{n.event, n.stop}, false, windows.INFINITE)
		if err != nil || ev != windows.WAIT_OBJECT_0 {
			return // stopped, or waiting failed: the Manager falls back on the interval
		}
		// Re-arm before waking the Manager, so a change made while it
		// re-checks is not missed.
		err = arm()
		select {
		case n.c <- struct{}{}:
		default:
		}
		if err != nil {
			return
		}
	}
}

func (n *regNotifier) C() <-chan struct{} { return n.c }

// Watch has nothing to do: the whole subtree is watched.
func (n *regNotifier) Watch([]target) error { return nil }

func (n *regNotifier) Close() error {
	windows.SetEvent(n.stop)
	<-n.done
	return n.closeHandles()
}

func (n *regNotifier) closeHandles() error {
	for _, h := range []windows.Handle{n.event, n.stop} {
		if h != 0 {
			windows.CloseHandle(h)
		}
	}
	return n.key.Close()
}
