package classify

import (
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// dangerousExt maps a normalised extension (no dot) to what it is. A file with
// one of these final extensions is blocked by name whatever its content: the
// OS would run it, mount it, install it, or follow it on a double click.
var dangerousExt = map[string]string{
	// Windows programs and libraries.
	"exe": "Windows program", "com": "DOS/Windows program", "scr": "Windows screen saver (program)",
	"pif": "Windows program information file", "cpl": "Control Panel item (program)",
	"dll": "Windows library", "ocx": "ActiveX control", "sys": "Windows driver", "drv": "Windows driver",
	"xll": "Excel add-in (program)", "efi": "EFI program", "scf": "Windows Explorer command file",
	// Windows scripts and shell.
	"bat": "batch script", "cmd": "batch script", "ps1": "PowerShell script", "psm1": "PowerShell module",
	"psd1": "PowerShell data file", "ps1xml": "PowerShell format file", "ps2": "PowerShell script",
	"ps2xml": "PowerShell format file", "psc1": "PowerShell console file", "psc2": "PowerShell console file",
	"pssc": "PowerShell session file", "cdxml": "PowerShell cmdlet definition",
	"vb": "VBScript", "vbs": "VBScript", "vbe": "encoded VBScript", "js": "JScript", "jse": "encoded JScript",
	"wsf": "Windows Script file", "wsh": "Windows Script host settings", "wsc": "Windows Script component",
	"ws": "Windows Script file", "sct": "Windows script component", "hta": "HTML application: a program, not a web page",
	"msh": "Monad script", "msh1": "Monad script", "msh2": "Monad script", "mshxml": "Monad script",
	"msh1xml": "Monad script", "msh2xml": "Monad script",
	// Installers and packages.
	"msi": "Windows Installer package", "msp": "Windows Installer patch", "mst": "Windows Installer transform",
	"msix": "Windows app package", "msixbundle": "Windows app package", "appx": "Windows app package",
	"appxbundle": "Windows app package", "appinstaller": "Windows app installer", "application": "ClickOnce application",
	"appref-ms": "ClickOnce reference", "xbap": "XAML browser application", "gadget": "Windows gadget",
	"vsix": "Visual Studio extension", "vsto": "Office add-in", "msc": "management console snap-in",
	"diagcab": "diagnostic package", "diagcfg": "diagnostic package", "diagpkg": "diagnostic package",
	"inf": "setup information file", "reg": "registry file", "wsb": "Windows Sandbox configuration",
	// Shortcuts and shell redirections.
	// (.url is judged by its target: see contentExt.)
	"lnk": "Windows shortcut", "library-ms": "Windows library: it opens folders, possibly on another computer, not a document",
	"settingcontent-ms": "Windows settings shortcut: it can start a program", "search-ms": "Windows saved search: it opens a search that can reach programs",
	"searchconnector-ms": "Windows search connector: it opens folders, possibly on another computer", "website": "pinned website", "rdp": "Remote Desktop connection",
	"themepack": "Windows theme pack", "theme": "Windows theme", "desktopthemepack": "Windows theme pack",
	"xnk": "Exchange shortcut", "shb": "document shortcut",
	"shs": "shell scrap object", "iqy": "Excel web query", "slk": "Excel symbolic link", "jnlp": "Java Web Start file",
	// Help files and old Office/Access formats that run code.
	"chm": "compiled HTML help", "hlp": "Windows help file", "mde": "Access program", "accde": "Access program",
	"ade": "Access project", "adp": "Access project", "mda": "Access add-in", "mam": "Access macro",
	"cer": "certificate", "crt": "certificate", "der": "certificate", "p7b": "certificate bundle",
	// Disk images (mount on a double click; MOTW does not reach their contents).
	"iso": "disk image", "img": "disk image", "vhd": "virtual disk", "vhdx": "virtual disk", "udf": "disk image",
	"wim": "Windows image", "dmg": "macOS disk image", "sparseimage": "macOS disk image", "sparsebundle": "macOS disk image",
	// Java.
	"jar": "Java program", "class": "Java class",
	// Linux and macOS.
	"desktop": "Linux desktop launcher", "appimage": "Linux program (AppImage)", "run": "Linux installer script",
	"sh": "shell script", "bash": "shell script", "zsh": "shell script", "csh": "shell script", "ksh": "shell script",
	"fish": "shell script", "command": "macOS shell script", "tool": "macOS shell script", "pkg": "macOS installer package",
	"mpkg": "macOS installer package", "app": "macOS application", "deb": "Debian package", "rpm": "RPM package",
	"snap": "Snap package", "flatpak": "Flatpak bundle", "flatpakref": "Flatpak reference", "flatpakrepo": "Flatpak repository",
	"so": "Linux library", "dylib": "macOS library", "kext": "macOS kernel extension", "workflow": "macOS Automator workflow",
	"scpt": "AppleScript", "scptd": "AppleScript", "applescript": "AppleScript", "terminal": "macOS Terminal settings (runs commands)",
	"fileloc": "macOS file shortcut", "inetloc": "macOS Internet shortcut", "webloc": "macOS web shortcut",
	"pyw": "Python program", "pyz": "Python program", "pyzw": "Python program", "pyc": "compiled Python",
	"crx": "Chrome extension",
	// Archives this package cannot look inside: fail closed by name too, so a
	// partial download is judged the same as the finished one.
	"rar": "RAR archive (cannot be inspected)", "7z": "7z archive (cannot be inspected)",
	"cab": "CAB archive (cannot be inspected)", "xz": "xz stream (cannot be inspected)",
	"txz": "xz tarball (cannot be inspected)", "zst": "zstd stream (cannot be inspected)",
	"ace": "ACE archive (cannot be inspected)", "arj": "ARJ archive (cannot be inspected)",
}

// scriptExt lists interpreters' script extensions that are harmless as plain
// text but run when the file carries an exec bit or a #! line.
var scriptExt = map[string]bool{"py": true, "pl": true, "rb": true, "php": true, "lua": true, "tcl": true, "awk": true, "pm": true}

// macroExt lists Office's macro-enabled formats, blocked by name only when
// Config.BlockOfficeMacros is on.
var macroExt = map[string]bool{
	"docm": true, "dotm": true, "xlsm": true, "xltm": true, "xlam": true, "pptm": true, "potm": true,
	"ppsm": true, "ppam": true, "sldm": true,
}

// partialExt lists browsers' partial-download suffixes; the name under them is judged.
var partialExt = map[string]bool{"crdownload": true, "part": true, "partial": true, "download": true, "opdownload": true}

// nameInfo is what judging a name found.
type nameInfo struct {
	finding
	script bool // an interpreter script extension (see scriptExt)
}

// judgeName judges name (every component; the last as the file name). It
// returns the reason without the location; callers add it.
func (w *walker) judgeName(name string) nameInfo {
	for _, r := range name {
		switch {
		case isBidi(r):
			return nameInfo{finding: blocked("bidirectional control character %U in the name (it can hide the real extension)", r)}
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return nameInfo{finding: blocked("control character %U in the name", r)}
		}
	}
	// Names in old zips are often CP437 or another legacy code page: judge
	// what is readable (extensions are ASCII) rather than refuse them.
	name = strings.ToValidUTF8(name, "\uFFFD")
	comps := strings.FieldsFunc(name, func(r rune) bool { return r == '/' || r == '\\' })
	if len(comps) == 0 {
		return nameInfo{finding: allowed}
	}
	for _, c := range comps[:len(comps)-1] {
		if ext, _ := finalExt(c); ext == "app" {
			return nameInfo{finding: blocked("inside a macOS application bundle (%s)", quote(c))}
		}
	}
	last := comps[len(comps)-1]
	// name:stream forms. Windows file names cannot hold a colon, so on
	// Windows it names an alternate data stream; each piece is judged.
	pieces := strings.Split(last, ":")
	var out nameInfo
	out.finding = allowed
	for i, p := range pieces {
		if i > 0 && (p == "" || strings.HasPrefix(p, "$")) {
			continue // "::$DATA", ":$DATA": the stream type, not a name
		}
		ni := w.judgeFileName(p)
		if ni.verdict == Block && len(pieces) > 1 {
			ni.reason = "alternate data stream form " + quote(last) + ": " + ni.reason
		}
		out.script = out.script || ni.script
		out.finding = worse(out.finding, ni.finding)
	}
	return out
}

// judgeFileName judges one file name (no separators, no colon).
func (w *walker) judgeFileName(name string) nameInfo {
	ext, disguised := finalExt(name)
	trimmed := strings.TrimRight(name, ". ") != name
	if partialExt[ext] {
		inner := name[:strings.LastIndex(name, ".")]
		if e2, d2 := finalExt(inner); e2 != "" && strings.Contains(inner, ".") {
			ext, disguised, trimmed = e2, d2, trimmed || strings.TrimRight(inner, ". ") != inner
		}
	}
	if ext == "" {
		return nameInfo{finding: allowed}
	}
	what, bad := dangerousExt[ext]
	if !bad && strings.HasPrefix(ext, "{") && strings.HasSuffix(ext, "}") {
		what, bad = "shell folder (CLSID extension)", true
	}
	if !bad && w.cfg.BlockOfficeMacros && macroExt[ext] {
		what, bad = "macro-enabled Office document", true
	}
	if !bad {
		return nameInfo{finding: allowed, script: scriptExt[ext]}
	}
	switch {
	case disguised:
		return nameInfo{finding: blocked("disguised extension in %s (%s) reads as .%s (%s)", quote(name), oddRunes(name), ext, what)}
	case trimmed:
		return nameInfo{finding: blocked("trailing dots or spaces hide .%s in %s (%s)", ext, quote(name), what)}
	}
	if prev := previousExt(name); prev != "" && prev != ext {
		return nameInfo{finding: blocked("double extension %s: a .%s file (%s) posing as .%s", quote(name), ext, what, prev)}
	}
	return nameInfo{finding: blocked("dangerous extension .%s (%s)", ext, what)}
}

// quote makes a name safe to put in a reason: printable letters of every
// script stay as they are; control, format (bidi, zero-width) and invalid
// bytes become Go escapes, so a reason never reorders or hides text.
func quote(s string) string {
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

func isBidi(r rune) bool {
	return (r >= 0x202A && r <= 0x202E) || (r >= 0x2066 && r <= 0x2069) || r == 0x200E || r == 0x200F || r == 0x061C
}

var folder = cases.Fold()

// finalExt returns the skeleton of name's final extension (no dot): NFKC,
// case-folded, with marks and invisible format characters dropped and
// look-alike letters mapped to Latin, after the trailing dots and spaces that
// Windows ignores. disguised reports that the skeleton differs from the plain
// lower-case extension (a homoglyph, a full-width letter, an invisible mark).
func finalExt(name string) (ext string, disguised bool) {
	n := norm.NFKC.String(name)
	n = strings.TrimRightFunc(n, func(r rune) bool { return r == '.' || unicode.IsSpace(r) })
	i := strings.LastIndex(n, ".")
	if i < 0 {
		return "", false
	}
	sk := skeleton(n[i+1:])
	// The extension as typed: after the last character that NFKC makes a dot.
	o := strings.TrimRightFunc(name, func(r rune) bool { return norm.NFKC.String(string(r)) == "." || unicode.IsSpace(r) })
	j := strings.LastIndexFunc(o, func(r rune) bool { return norm.NFKC.String(string(r)) == "." })
	if j < 0 {
		return sk, true
	}
	_, w := utf8.DecodeRuneInString(o[j:])
	return sk, sk != strings.ToLower(o[j+w:])
}

// skeleton folds case, drops combining marks and format characters, and maps
// confusable letters to the Latin letters they imitate.
func skeleton(s string) string {
	s = norm.NFD.String(folder.String(s))
	var b strings.Builder
	for _, r := range s {
		if unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) {
			continue
		}
		if l, ok := confusables[r]; ok {
			r = l
		}
		b.WriteRune(r)
	}
	return b.String()
}

// oddRunes lists the code points that are not plain ASCII in the extension
// part of name, so a reason shows what the disguise is made of.
func oddRunes(name string) string {
	isDot := func(r rune) bool { return norm.NFKC.String(string(r)) == "." }
	o := strings.TrimRightFunc(name, func(r rune) bool { return isDot(r) || unicode.IsSpace(r) })
	if j := strings.LastIndexFunc(o, isDot); j >= 0 {
		o = o[j:]
	}
	var out []string
	for _, r := range o {
		if r >= utf8.RuneSelf {
			out = append(out, fmt.Sprintf("%U", r))
		}
	}
	return strings.Join(out, " ")
}

// previousExt is the extension before the final one ("pdf" in "a.pdf.exe").
func previousExt(name string) string {
	n := strings.TrimRight(norm.NFKC.String(name), ". ")
	i := strings.LastIndex(n, ".")
	if i <= 0 {
		return ""
	}
	n = strings.TrimRight(n[:i], ". ")
	j := strings.LastIndex(n, ".")
	if j < 0 || j == len(n)-1 {
		return ""
	}
	e := skeleton(n[j+1:])
	if len(e) > 5 || e == "" {
		return "" // "v1.2 final.exe" is not a double extension
	}
	return e
}

// execBits reports whether mode lets anyone execute the file.
func execBits(mode fs.FileMode) bool { return mode.Type() == 0 && mode.Perm()&0o111 != 0 }
