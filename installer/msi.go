package installer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BuildMSI builds carrel-agent-VERSION-x64.msi in o.OutDir with wixl, signs it
// when o.SignCert is set, and returns its path.
func BuildMSI(ctx context.Context, o Options) (string, error) {
	o, err := o.withDefaults()
	if err != nil {
		return "", err
	}
	wixl, err := lookTool("wixl", "wixl")
	if err != nil {
		return "", err
	}
	msitools, err := lookMSITools()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "carrel-msi-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	// wixl resolves File/@Source relative to its working directory and refuses
	// absolute paths: stage the binary next to the source.
	if err := copyFile(o.AgentBinary, filepath.Join(tmp, "carrel-agent.exe"), 0o644); err != nil {
		return "", fmt.Errorf("stage agent binary: %w", err)
	}
	o.AgentBinary = "carrel-agent.exe"
	src, err := renderWiX(o)
	if err != nil {
		return "", err
	}
	wxs := filepath.Join(tmp, "carrel-agent.wxs")
	if err := os.WriteFile(wxs, src, 0o644); err != nil {
		return "", err
	}
	outDir, err := filepath.Abs(o.OutDir)
	if err != nil {
		return "", err
	}
	out := filepath.Join(outDir, fmt.Sprintf("carrel-agent-%s-x64.msi", o.Version))
	partial := out + ".partial"
	cmd := exec.CommandContext(ctx, wixl, "-a", "x64", "-o", partial, wxs)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.Dir = tmp
	if err := cmd.Run(); err != nil {
		os.Remove(partial)
		return "", fmt.Errorf("wixl: %w: %s", err, wixlErrors(stderr.Bytes()))
	}
	if err := secureProperties(ctx, msitools, partial, SecureProperties); err != nil {
		os.Remove(partial)
		return "", err
	}
	if o.SignCert != "" {
		if err := signAuthenticode(ctx, o, partial); err != nil {
			os.Remove(partial)
			return "", err
		}
	}
	if err := os.Rename(partial, out); err != nil {
		return "", err
	}
	o.Log.Info("MSI built", "path", out, "version", o.Version, "signed", o.SignCert != "")
	return out, nil
}

// wixlErrors drops wixl's GLib warnings about attributes it ignores
// (Package/@Platform, Property/@Secure...) and keeps the rest.
func wixlErrors(stderr []byte) string {
	var keep [][]byte
	for _, l := range bytes.Split(stderr, []byte("\n")) {
		if len(bytes.TrimSpace(l)) == 0 || bytes.Contains(l, []byte("g_object_set_is_valid_property")) {
			continue
		}
		keep = append(keep, l)
	}
	return string(bytes.Join(keep, []byte("\n")))
}

// msiTools are msitools' msiinfo and msibuild, which read and edit a built MSI.
type msiTools struct{ info, build string }

func lookMSITools() (msiTools, error) {
	info, err := lookTool("msiinfo", "msitools")
	if err != nil {
		return msiTools{}, err
	}
	build, err := lookTool("msibuild", "msitools")
	if err != nil {
		return msiTools{}, err
	}
	return msiTools{info: info, build: build}, nil
}

// secureProperties adds props to the SecureCustomProperties row of msi,
// keeping what wixl put there (the MajorUpgrade detection properties). wixl
// ignores Property/@Secure, and without the row Windows Installer drops a
// public property on its way from the client to the server side of an
// elevated install that a non-admin started.
func secureProperties(ctx context.Context, t msiTools, msi string, props []string) error {
	out, err := exec.CommandContext(ctx, t.info, "export", msi, "Property").Output()
	if err != nil {
		return fmt.Errorf("msiinfo export Property: %w", err)
	}
	current, found := propertyValue(out, "SecureCustomProperties")
	value := mergeList(current, props)
	query := "INSERT INTO `Property` (`Property`, `Value`) VALUES ('SecureCustomProperties', '" + value + "')"
	if found {
		query = "UPDATE `Property` SET `Value` = '" + value + "' WHERE `Property` = 'SecureCustomProperties'"
	}
	if out, err := exec.CommandContext(ctx, t.build, msi, "-q", query).CombinedOutput(); err != nil {
		return fmt.Errorf("msibuild SecureCustomProperties: %w: %s", err, bytes.TrimSpace(out))
	}
	return nil
}

// propertyValue finds name in an `msiinfo export ... Property` table (tab
// separated, three header lines).
func propertyValue(export []byte, name string) (string, bool) {
	lines := strings.Split(strings.ReplaceAll(string(export), "\r\n", "\n"), "\n")
	for i, l := range lines {
		if i < 3 {
			continue
		}
		if k, v, ok := strings.Cut(l, "\t"); ok && k == name {
			return v, true
		}
	}
	return "", false
}

// mergeList appends props missing from the ;-separated list.
func mergeList(list string, props []string) string {
	var names []string
	seen := map[string]bool{}
	for _, p := range append(strings.Split(list, ";"), props...) {
		if p != "" && !seen[p] {
			seen[p] = true
			names = append(names, p)
		}
	}
	return strings.Join(names, ";")
}

func lookTool(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s (apt-get install %s)", ErrToolMissing, name, pkg)
	}
	return p, nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, data, mode)
}

// signAuthenticode signs path in place with osslsigncode.
func signAuthenticode(ctx context.Context, o Options, path string) error {
	tool, err := lookTool("osslsigncode", "osslsigncode")
	if err != nil {
		return err
	}
	signed := path + ".signed"
	args := []string{"sign", "-certs", o.SignCert, "-key", o.SignKey,
		"-n", "Carrel Agent", "-i", o.Homepage, "-h", "sha256"}
	if o.SignTimestampURL != "" {
		args = append(args, "-ts", o.SignTimestampURL)
	}
	args = append(args, "-in", path, "-out", signed)
	out, err := exec.CommandContext(ctx, tool, args...).CombinedOutput()
	if err != nil {
		os.Remove(signed)
		return fmt.Errorf("osslsigncode sign: %w: %s", err, bytes.TrimSpace(out))
	}
	return os.Rename(signed, path)
}
