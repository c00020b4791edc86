package browserpolicy

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// plistMarkerKey is the key that marks a managed-preferences plist as Carrel's.
// Chrome lists it as an unknown policy on chrome://policy, which is harmless.
const plistMarkerKey = "CarrelManagedBy"

const plistHeader = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
`

// encodePlist writes p as an XML property list with Carrel's marker.
func encodePlist(p policy) []byte {
	var b bytes.Buffer
	b.WriteString(plistHeader)
	doc := p.present()
	doc[plistMarkerKey] = managedBy
	plistValue(&b, doc, 0)
	b.WriteString("</plist>\n")
	return b.Bytes()
}

func plistValue(b *bytes.Buffer, v any, depth int) {
	indent := strings.Repeat("\t", depth)
	switch v := v.(type) {
	case bool:
		if v {
			b.WriteString(indent + "<true/>\n")
		} else {
			b.WriteString(indent + "<false/>\n")
		}
	case int:
		fmt.Fprintf(b, "%s<integer>%d</integer>\n", indent, v)
	case string:
		b.WriteString(indent + "<string>")
		xml.EscapeText(b, []byte(v))
		b.WriteString("</string>\n")
	case []string:
		b.WriteString(indent + "<array>\n")
		for _, s := range v {
			plistValue(b, s, depth+1)
		}
		b.WriteString(indent + "</array>\n")
	case map[string]any:
		b.WriteString(indent + "<dict>\n")
		for _, k := range policy(v).names() {
			b.WriteString(indent + "\t<key>")
			xml.EscapeText(b, []byte(k))
			b.WriteString("</key>\n")
			plistValue(b, v[k], depth+1)
		}
		b.WriteString(indent + "</dict>\n")
	default:
		panic(fmt.Sprintf("browserpolicy: no plist form for %T", v)) // built from fixed types
	}
}

var errNotPlist = errors.New("not an XML property list")

// plistMaxDepth bounds nesting when reading a plist from outside.
const plistMaxDepth = 16

// decodePlist reads an XML property list whose root is a dict, as found in
// /Library/Managed Preferences (written by Carrel, by an MDM, or altered by
// hand). It knows dict, array, string, integer, real (as string), true, false,
// date and data (both as string); binary plists are refused with errNotPlist.
func decodePlist(data []byte) (map[string]any, error) {
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("%w: larger than %d bytes", errNotPlist, maxPolicyFile)
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = true
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNotPlist, err)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if se.Name.Local != "plist" {
				return nil, fmt.Errorf("%w: root element %q", errNotPlist, se.Name.Local)
			}
			break
		}
	}
	v, end, err := plistNext(d, 0)
	if err != nil {
		return nil, err
	}
	if end {
		return nil, fmt.Errorf("%w: empty plist", errNotPlist)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: root is not a dict", errNotPlist)
	}
	return root, nil
}

// plistNext reads the next value; end reports the closing tag of the enclosing
// element instead.
func plistNext(d *xml.Decoder, depth int) (v any, end bool, err error) {
	if depth > plistMaxDepth {
		return nil, false, fmt.Errorf("%w: nested deeper than %d", errNotPlist, plistMaxDepth)
	}
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, false, fmt.Errorf("%w: %v", errNotPlist, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil, true, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, false, fmt.Errorf("%w: stray text", errNotPlist)
			}
		case xml.StartElement:
			return plistElement(d, t, depth)
		}
	}
}

func plistElement(d *xml.Decoder, se xml.StartElement, depth int) (any, bool, error) {
	switch se.Name.Local {
	case "true", "false":
		if err := d.Skip(); err != nil {
			return nil, false, fmt.Errorf("%w: %v", errNotPlist, err)
		}
		return se.Name.Local == "true", false, nil
	case "string", "real", "date", "data":
		var s string
		if err := d.DecodeElement(&s, &se); err != nil {
			return nil, false, fmt.Errorf("%w: %v", errNotPlist, err)
		}
		return s, false, nil
	case "integer":
		var s string
		if err := d.DecodeElement(&s, &se); err != nil {
			return nil, false, fmt.Errorf("%w: %v", errNotPlist, err)
		}
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, false, fmt.Errorf("%w: integer %q", errNotPlist, s)
		}
		return int(n), false, nil
	case "array":
		list := []any{}
		for {
			v, end, err := plistNext(d, depth+1)
			if err != nil {
				return nil, false, err
			}
			if end {
				return list, false, nil
			}
			list = append(list, v)
		}
	case "dict":
		dict := map[string]any{}
		for {
			tok, err := nextStart(d)
			if err != nil {
				return nil, false, err
			}
			if tok == nil {
				return dict, false, nil
			}
			if tok.Name.Local != "key" {
				return nil, false, fmt.Errorf("%w: <%s> where a <key> belongs", errNotPlist, tok.Name.Local)
			}
			var k string
			if err := d.DecodeElement(&k, tok); err != nil {
				return nil, false, fmt.Errorf("%w: %v", errNotPlist, err)
			}
			v, end, err := plistNext(d, depth+1)
			if err != nil {
				return nil, false, err
			}
			if end {
				return nil, false, fmt.Errorf("%w: key %q without a value", errNotPlist, k)
			}
			dict[k] = v
		}
	}
	return nil, false, fmt.Errorf("%w: unknown element <%s>", errNotPlist, se.Name.Local)
}

// nextStart returns the next start element, or nil at the enclosing end tag.
func nextStart(d *xml.Decoder) (*xml.StartElement, error) {
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil, fmt.Errorf("%w: unexpected end", errNotPlist)
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", errNotPlist, err)
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil, nil
		case xml.StartElement:
			return &t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, fmt.Errorf("%w: stray text", errNotPlist)
			}
		}
	}
}

// inspectPlist reports whether an existing managed-preferences plist is Carrel's.
func inspectPlist(data []byte) (carrels bool, err error) {
	root, err := decodePlist(data)
	if err != nil {
		return false, err
	}
	return root[plistMarkerKey] == managedBy, nil
}
