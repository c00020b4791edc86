// Package slapd runs a real OpenLDAP server (Debian's slapd) for a test, from a
// configuration it writes into the test's temp dir: one mdb database for
// dc=carrel,dc=test, plain LDAP (with StartTLS) and LDAPS on loopback ports,
// a server certificate from a CA the rig makes, and the entries the test gives.
// It never touches the system's slapd or /etc/ldap beyond reading the schema.
//
// Start skips the test when slapd is not installed, unless CARREL_XVFB=1 (set
// by .ci/test), where a missing slapd fails it.
package slapd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Suffix is the directory's base DN; RootDN and RootPassword may write anything.
const (
	Suffix       = "dc=carrel,dc=test"
	RootDN       = "cn=admin," + Suffix
	RootPassword = "root-secret-for-tests"
)

// Server is a running slapd.
type Server struct {
	LDAPURL  string // ldap://127.0.0.1:PORT (StartTLS offered)
	LDAPSURL string // ldaps://127.0.0.1:PORT
	CAPEM    []byte // the CA that signed the server certificate
	CAPool   *x509.CertPool
	Dir      string
	cmd      *exec.Cmd
}

// Find returns slapd's path, or skips (fails in CI) when it is absent.
func Find(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/slapd", "/usr/local/sbin/slapd"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CARREL_XVFB") == "1" {
		t.Fatal("slapd is not installed (.ci/deps installs Debian's slapd and ldap-utils)")
	}
	t.Skip("slapd is not installed (apt-get install slapd ldap-utils)")
	return ""
}

// Start writes the configuration, loads ldif (entries below Suffix; the
// suffix entry itself is made here), and starts slapd. It is stopped when the
// test ends.
func Start(t testing.TB, ldif string) *Server {
	t.Helper()
	bin := Find(t)
	dir := t.TempDir()
	s := &Server{Dir: dir}
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	s.CAPEM = writeCerts(t, certFile, keyFile)
	s.CAPool = x509.NewCertPool()
	s.CAPool.AppendCertsFromPEM(s.CAPEM)

	confDir, dbDir := filepath.Join(dir, "slapd.d"), filepath.Join(dir, "db")
	for _, d := range []string{confDir, dbDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	config := fmt.Sprintf(configLDIF, filepath.Join(dir, "slapd.pid"), filepath.Join(dir, "slapd.args"),
		certFile, keyFile, Suffix, RootDN, RootPassword, dbDir)
	run(t, "/usr/sbin/slapadd", "-n0", "-F", confDir, "-l", writeFile(t, dir, "config.ldif", config))
	data := fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\no: Carrel test\ndc: carrel\n\n", Suffix) + ldif
	run(t, "/usr/sbin/slapadd", "-n1", "-F", confDir, "-l", writeFile(t, dir, "data.ldif", data))

	plain, secure := freePort(t), freePort(t)
	s.LDAPURL = fmt.Sprintf("ldap://127.0.0.1:%d", plain)
	s.LDAPSURL = fmt.Sprintf("ldaps://127.0.0.1:%d", secure)
	var out bytes.Buffer
	s.cmd = exec.Command(bin, "-d", "0", "-h", s.LDAPURL+"/ "+s.LDAPSURL+"/", "-F", confDir)
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start slapd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- s.cmd.Wait() }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-exited
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", secure), &tls.Config{RootCAs: s.CAPool, ServerName: "127.0.0.1"})
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			t.Fatalf("slapd exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("slapd did not answer on %s within 20 s: %v\n%s", s.LDAPSURL, err, out.String())
		}
	}
	return s
}

// Modify applies an LDIF change (changetype: modify/delete/add) as the root DN
// with ldapmodify, over LDAPS.
func (s *Server) Modify(t testing.TB, ldif string) {
	t.Helper()
	cmd := exec.Command("ldapmodify", "-x", "-H", s.LDAPSURL, "-D", RootDN, "-w", RootPassword)
	cmd.Env = append(os.Environ(), "LDAPTLS_CACERT="+writeFile(t, s.Dir, "ca.pem", string(s.CAPEM)))
	cmd.Stdin = strings.NewReader(ldif)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ldapmodify: %v\n%s", err, out)
	}
}

const configLDIF = `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %s
olcArgsFile: %s
olcTLSCertificateFile: %s
olcTLSCertificateKeyFile: %s

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: %s
olcRootDN: %s
olcRootPW: %s
olcDbDirectory: %s
olcDbMaxSize: 67108864
olcAccess: {0}to attrs=userPassword by anonymous auth by self read by * none
olcAccess: {1}to * by users read by * none
`

func run(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 and localhost,
// writes the server's, and returns the CA's PEM.
func writeCerts(t testing.TB, certFile, keyFile string) []byte {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "slapd test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
}
