package api

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

type oaDoc struct {
	OpenAPI    string                           `json:"openapi"`
	Paths      map[string]map[string]oaOp       `json:"paths"`
	Components struct{ Schemas map[string]any } `json:"components"`
}

type oaOp struct {
	Parameters []struct {
		Name string `json:"name"`
		In   string `json:"in"`
	} `json:"parameters"`
	Responses map[string]struct {
		Content map[string]struct {
			Schema map[string]any `json:"schema"`
		} `json:"content"`
	} `json:"responses"`
}

func loadDoc(t *testing.T, b []byte) oaDoc {
	t.Helper()
	var d oaDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(d.OpenAPI, "3.") {
		t.Fatalf("openapi %q", d.OpenAPI)
	}
	return d
}

// resolve follows a $ref into the document's schemas.
func (d oaDoc) resolve(s map[string]any) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/components/schemas/")
		m, _ := d.Components.Schemas[name].(map[string]any)
		return m
	}
	return s
}

// conforms checks v against schema: its type, its required properties, that
// it has no property the schema does not list (when the schema lists them),
// enums, and so on into arrays and objects.
func (d oaDoc) conforms(t *testing.T, where string, schema map[string]any, v any) {
	t.Helper()
	schema = d.resolve(schema)
	if schema == nil {
		t.Fatalf("%s: unresolved schema", where)
	}
	switch schema["type"] {
	case "array":
		arr, ok := v.([]any)
		if !ok {
			t.Fatalf("%s: %T, documented as an array", where, v)
		}
		items, _ := schema["items"].(map[string]any)
		for i, e := range arr {
			d.conforms(t, where+"["+strconv.Itoa(i)+"]", items, e)
		}
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: %T, documented as an object", where, v)
		}
		req, _ := schema["required"].([]any)
		for _, r := range req {
			if _, ok := obj[r.(string)]; !ok {
				t.Errorf("%s: documented field %q missing", where, r)
			}
		}
		props, _ := schema["properties"].(map[string]any)
		if props != nil {
			for k, fv := range obj {
				ps, ok := props[k].(map[string]any)
				if !ok {
					t.Errorf("%s: field %q is not documented", where, k)
					continue
				}
				d.conforms(t, where+"."+k, ps, fv)
			}
		}
		if ap, ok := schema["additionalProperties"].(map[string]any); ok {
			for k, fv := range obj {
				d.conforms(t, where+"."+k, ap, fv)
			}
		}
	case "string":
		s, ok := v.(string)
		if !ok {
			t.Errorf("%s: %T, documented as a string", where, v)
			return
		}
		if schema["format"] == "date-time" {
			if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
				t.Errorf("%s: %q is not a date-time", where, s)
			}
		}
		if enum, ok := schema["enum"].([]any); ok {
			found := false
			for _, e := range enum {
				found = found || e == s
			}
			if !found {
				t.Errorf("%s: %q is not in the documented enum %v", where, s, enum)
			}
		}
	case "integer":
		if f, ok := v.(float64); !ok || f != float64(int64(f)) {
			t.Errorf("%s: %v is not an integer", where, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			t.Errorf("%s: %T, documented as a boolean", where, v)
		}
	}
}

// TestOpenAPIMatchesTheServedAPI: the document checked in is the one served;
// every served route is documented and every documented path is served; each
// documented operation answers a status it documents with a body that
// conforms to its schema, for the success and for the documented refusals
// this test can cause.
func TestOpenAPIMatchesTheServedAPI(t *testing.T) {
	fc := &fakeCounter{}
	r := newRig(t, Config{Counts: fc})
	r.hub.mu.Lock()
	v := r.hub.terms["t-2"]
	v.Since = time.Now().UTC()
	v.Status.Patron = &protocol.PatronView{Grant: "g", Kind: protocol.PatronGuest, Patron: "guest", Ends: time.Now().Add(time.Hour)}
	r.hub.terms["t-2"] = v
	r.hub.mu.Unlock()

	checkedIn, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, r.srv.URL+PathOpenAPI, nil)
	resp, err := r.cli.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	served, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(served) != string(checkedIn) {
		t.Fatal("the served document is not the checked-in openapi.json")
	}
	d := loadDoc(t, served)

	var routePaths, docPaths []string
	for _, rt := range routes {
		routePaths = append(routePaths, strings.ToLower(rt.method)+" "+rt.path)
	}
	for p, ops := range d.Paths {
		for m := range ops {
			docPaths = append(docPaths, m+" "+p)
		}
	}
	sort.Strings(routePaths)
	sort.Strings(docPaths)
	if strings.Join(routePaths, "\n") != strings.Join(docPaths, "\n") {
		t.Fatalf("served routes:\n%s\ndocumented:\n%s", strings.Join(routePaths, "\n"), strings.Join(docPaths, "\n"))
	}

	// How each documented answer is caused: path (with query) and key.
	type probe struct {
		status   string
		path     string
		key      string
		accept   string
		queryDoc []string // parameters documented for the path, each used by some probe
	}
	probes := map[string][]probe{
		PathTerminals: {{status: "200", path: PathTerminals + "?state=in-use&online=true&branch=north", key: r.admin.Key},
			{status: "200", path: PathTerminals, key: r.admin.Key},
			{status: "403", path: PathTerminals + "?branch=south", key: r.north.Key},
			{status: "400", path: PathTerminals + "?state=nope", key: r.admin.Key},
			{status: "401", path: PathTerminals}},
		PathTerminal: {{status: "200", path: "/api/v1/terminals/t-2", key: r.admin.Key},
			{status: "403", path: "/api/v1/terminals/t-3", key: r.north.Key},
			{status: "404", path: "/api/v1/terminals/none", key: r.admin.Key},
			{status: "400", path: "/api/v1/terminals/t-1?x=1", key: r.admin.Key},
			{status: "401", path: "/api/v1/terminals/t-1"}},
		PathBranches: {{status: "200", path: PathBranches, key: r.admin.Key},
			{status: "400", path: PathBranches + "?x=1", key: r.admin.Key},
			{status: "401", path: PathBranches}},
		PathCounts: {{status: "200", path: PathCounts + "?from=2026-01-01&to=2026-02-01&by=week&branch=north", key: r.admin.Key},
			{status: "403", path: PathCounts + "?branch=south", key: r.north.Key},
			{status: "400", path: PathCounts + "?by=year", key: r.admin.Key},
			{status: "401", path: PathCounts}},
		PathFeed: {{status: "200", path: PathFeed + "?branch=north&last_event_id=1", key: r.admin.Key, accept: "text/event-stream"},
			{status: "403", path: PathFeed + "?branch=south", key: r.north.Key},
			{status: "400", path: PathFeed + "?last_event_id=x", key: r.admin.Key},
			{status: "401", path: PathFeed}},
		PathOpenAPI: {{status: "200", path: PathOpenAPI}},
		PathHealthz: {{status: "200", path: PathHealthz}, {status: "400", path: PathHealthz + "?x=1"}},
		PathReadyz:  {{status: "200", path: PathReadyz}, {status: "400", path: PathReadyz + "?x=1"}},
		PathFree:    {{status: "200", path: PathFree + "?key=x", accept: "text/html"}},
	}
	for p, ops := range d.Paths {
		op := ops["get"]
		ps := probes[p]
		if len(ps) == 0 {
			t.Errorf("%s: no probe for a documented path", p)
			continue
		}
		// Every documented query parameter is used by some probe.
		for _, prm := range op.Parameters {
			if prm.In != "query" {
				continue
			}
			used := false
			for _, pr := range ps {
				used = used || strings.Contains(pr.path, prm.Name+"=")
			}
			if !used {
				t.Errorf("%s: documented parameter %s never tried", p, prm.Name)
			}
		}
		for _, pr := range ps {
			documented, ok := op.Responses[pr.status]
			if !ok {
				t.Errorf("%s: status %s is not documented", pr.path, pr.status)
				continue
			}
			req, _ := http.NewRequest(http.MethodGet, r.srv.URL+pr.path, nil)
			if pr.key != "" {
				req.Header.Set("Authorization", "Bearer "+pr.key)
			}
			resp, err := r.cli.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if strconv.Itoa(resp.StatusCode) != pr.status {
				resp.Body.Close()
				t.Errorf("%s: %s, want %s", pr.path, resp.Status, pr.status)
				continue
			}
			ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
			content, ok := documented.Content[ct]
			if !ok {
				resp.Body.Close()
				t.Errorf("%s: content type %q not documented for %s", pr.path, ct, pr.status)
				continue
			}
			switch ct {
			case "application/json":
				var body any
				err := json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if err != nil {
					t.Errorf("%s: %v", pr.path, err)
					continue
				}
				d.conforms(t, pr.path+" "+pr.status, content.Schema, body)
			case "text/event-stream":
				// The first events (the snapshot) each carry a FeedEvent.
				sc := bufio.NewScanner(resp.Body)
				n := 0
				for n < 2 && sc.Scan() {
					if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
						var body any
						if err := json.Unmarshal([]byte(data), &body); err != nil {
							t.Fatalf("feed data %q: %v", data, err)
						}
						d.conforms(t, pr.path, content.Schema, body)
						n++
					}
				}
				resp.Body.Close()
				if n < 2 {
					t.Errorf("%s: no events", pr.path)
				}
			default:
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}
}
