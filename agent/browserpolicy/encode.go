package browserpolicy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// managedBy is the marker value Carrel puts into files it owns alone.
const managedBy = "carrel-agent"

// maxPolicyFile bounds what Carrel reads back from a policy location.
const maxPolicyFile = 1 << 20

// encodeChromiumJSON is the content of carrel.json in a Chromium-family
// managed-policy directory. Chromium ignores keys it does not know, but this
// file holds policies only: the file name already says who wrote it.
func encodeChromiumJSON(p policy) []byte {
	buf, err := json.MarshalIndent(p.present(), "", "  ")
	if err != nil {
		panic("browserpolicy: policy does not encode: " + err.Error()) // built from fixed types
	}
	return append(buf, '\n')
}

// firefoxDoc is the shape of policies.json. Firefox reads only "policies"; the
// "carrel" object marks the file as Carrel's.
type firefoxDoc struct {
	Policies map[string]any `json:"policies"`
	Carrel   *carrelMarker  `json:"carrel,omitempty"`
}

type carrelMarker struct {
	ManagedBy string `json:"managed_by"`
	Note      string `json:"note,omitempty"`
}

// encodeFirefoxJSON is the content of a policies.json Carrel owns.
func encodeFirefoxJSON(p policy) []byte {
	doc := firefoxDoc{
		Policies: p.present(),
		Carrel: &carrelMarker{
			ManagedBy: managedBy,
			Note:      "Written by the Carrel agent; changes are reverted. Set take_over_firefox = false and uninstall the agent to restore the previous file.",
		},
	}
	buf, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		panic("browserpolicy: policy does not encode: " + err.Error())
	}
	return append(buf, '\n')
}

// errNotPolicyFile says an existing file is not a policies.json at all.
var errNotPolicyFile = errors.New("not a policies.json document")

// inspectFirefoxJSON reads an existing policies.json, which a patron, another
// management tool or a package may have written, and reports whether Carrel
// wrote it. It never trusts more than the marker: the policies inside are not
// interpreted. A file that is not a single JSON object returns errNotPolicyFile
// (and is not Carrel's).
func inspectFirefoxJSON(data []byte) (carrels bool, err error) {
	if len(data) > maxPolicyFile {
		return false, fmt.Errorf("%w: larger than %d bytes", errNotPolicyFile, maxPolicyFile)
	}
	var doc struct {
		Policies json.RawMessage `json:"policies"`
		Carrel   json.RawMessage `json:"carrel"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return false, fmt.Errorf("%w: %v", errNotPolicyFile, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return false, fmt.Errorf("%w: data after the JSON object", errNotPolicyFile)
	}
	if len(doc.Carrel) == 0 {
		return false, nil
	}
	var m carrelMarker
	if err := json.Unmarshal(doc.Carrel, &m); err != nil {
		return false, nil // a "carrel" key of another shape is not our marker
	}
	return m.ManagedBy == managedBy, nil
}
