package api

import (
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// query is a request's decoded query parameters. decodeQuery refuses, naming
// the parameter, one that is unknown to the path, repeated, or malformed.
type query struct {
	Branch   string
	State    protocol.DisplayState
	Online   *bool
	From, To time.Time
	By       string
	LastID   uint64
	HasLast  bool
}

// MaxCountRange is the longest range /counts answers in one request.
const MaxCountRange = 3 * 366 * 24 * time.Hour

func badParam(name, msg string) error {
	return &HTTPError{Status: http.StatusBadRequest, Msg: "query parameter " + name + ": " + msg, Param: name}
}

// decodeQuery reads raw (the URL's query) for a path that takes allowed
// parameters ("key" is always allowed). now resolves relative defaults.
func decodeQuery(raw string, allowed []string, now time.Time) (query, error) {
	var q query
	vals, err := url.ParseQuery(raw)
	if err != nil {
		// Name the first parameter that does not parse.
		for _, part := range strings.Split(raw, "&") {
			name, _, _ := strings.Cut(part, "=")
			if _, err := url.QueryUnescape(name); err != nil {
				return q, badParam(protocol.Clip(strconv.Quote(name), 40), "is not URL-encoded")
			}
			if _, err := url.ParseQuery(part); err != nil {
				if name == "" {
					name = `""`
				}
				return q, badParam(protocol.Clip(name, 40), "is not URL-encoded")
			}
		}
		return q, badParam("?", "the query is not URL-encoded")
	}
	names := make([]string, 0, len(vals))
	for name := range vals {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if name == "key" {
			continue
		}
		known := false
		for _, a := range allowed {
			known = known || a == name
		}
		if !known {
			return q, badParam(protocol.Clip(strconv.Quote(name), 40), "is not a parameter of this path")
		}
		if len(vals[name]) > 1 {
			return q, badParam(name, "is given more than once")
		}
	}
	get := func(name string) (string, bool) {
		v, ok := vals[name]
		if !ok {
			return "", false
		}
		return v[0], true
	}
	if v, ok := get("branch"); ok {
		if err := protocol.ValidBranch(v); err != nil || v == "" {
			return q, badParam("branch", "is not a branch name")
		}
		q.Branch = v
	}
	if v, ok := get("state"); ok {
		found := false
		for _, s := range protocol.DisplayStates {
			if string(s) == v {
				found = true
			}
		}
		if !found {
			return q, badParam("state", "must be one of "+states())
		}
		q.State = protocol.DisplayState(v)
	}
	if v, ok := get("online"); ok {
		b, err := strconv.ParseBool(v)
		if err != nil || (v != "true" && v != "false") {
			return q, badParam("online", "must be true or false")
		}
		q.Online = &b
	}
	if v, ok := get("last_event_id"); ok {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return q, badParam("last_event_id", "must be an event ID (a whole number)")
		}
		q.LastID, q.HasLast = n, true
	}
	if contains(allowed, "by") {
		q.By = "day"
		if v, ok := get("by"); ok {
			switch v {
			case "hour", "day", "week", "month":
				q.By = v
			default:
				return q, badParam("by", "must be hour, day, week or month")
			}
		}
	}
	if contains(allowed, "from") {
		today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
		q.From, q.To = today.AddDate(0, 0, -30), today.AddDate(0, 0, 1)
		for _, p := range []struct {
			name string
			t    *time.Time
		}{{"from", &q.From}, {"to", &q.To}} {
			v, ok := get(p.name)
			if !ok {
				continue
			}
			t, err := parseTime(v)
			if err != nil {
				return q, badParam(p.name, "must be a date (2026-01-31) or an RFC 3339 time")
			}
			*p.t = t
		}
		if !q.To.After(q.From) {
			return q, badParam("to", "must be after from")
		}
		if q.To.Sub(q.From) > MaxCountRange {
			return q, badParam("to", "is more than 3 years after from: ask for a shorter range")
		}
	}
	return q, nil
}

func parseTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, err
	}
	if t.Year() < 2000 || t.Year() > 2200 {
		return t, strconv.ErrRange
	}
	return t.UTC(), nil
}

func contains(l []string, s string) bool {
	for _, v := range l {
		if v == s {
			return true
		}
	}
	return false
}

func states() string {
	var b []string
	for _, s := range protocol.DisplayStates {
		b = append(b, string(s))
	}
	return strings.Join(b, ", ")
}

func itoa(n int) string { return strconv.Itoa(n) }

// apiTerminal is how the API shows a terminal: no patron identity.
func apiTerminal(v protocol.TerminalView) protocol.APITerminal {
	t := protocol.APITerminal{ID: v.ID, Name: v.Name, Branch: v.Branch, State: v.DisplayState(), Online: v.Online, Since: v.Since}
	if v.Status != nil && v.Status.Patron != nil && v.Online {
		t.Patron = &protocol.APIPatron{Kind: v.Status.Patron.Kind, Ends: v.Status.Patron.Ends.UTC()}
	}
	return t
}

func (s *Server) terminals(c *call) (any, error) {
	q, err := decodeQuery(c.r.URL.RawQuery, []string{"branch", "state", "online"}, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	branch, err := s.allowBranch(c.key, q.Branch)
	if err != nil {
		return nil, err
	}
	views, err := s.hub.Terminals(c.r.Context())
	if err != nil {
		return nil, err
	}
	out := []protocol.APITerminal{}
	for _, v := range views {
		t := apiTerminal(v)
		if (branch != "" && t.Branch != branch) || (q.State != "" && t.State != q.State) || (q.Online != nil && t.Online != *q.Online) {
			continue
		}
		out = append(out, t)
	}
	return out, nil
}

func (s *Server) terminal(c *call) (any, error) {
	if _, err := decodeQuery(c.r.URL.RawQuery, nil, s.cfg.Now()); err != nil {
		return nil, err
	}
	id := c.r.PathValue("id")
	if id == "" || len(id) > 200 {
		return nil, errStatus(http.StatusNotFound, "not found")
	}
	v, err := s.hub.Terminal(c.r.Context(), id)
	if err != nil {
		return nil, err
	}
	if c.key.Branch != "" && v.Branch != c.key.Branch {
		s.countRefusal(c.key.ID)
		return nil, errStatus(http.StatusForbidden, "this key reads branch "+c.key.Branch+" only")
	}
	return apiTerminal(v), nil
}

func (s *Server) branches(c *call) (any, error) {
	if _, err := decodeQuery(c.r.URL.RawQuery, nil, s.cfg.Now()); err != nil {
		return nil, err
	}
	views, err := s.hub.Terminals(c.r.Context())
	if err != nil {
		return nil, err
	}
	by := map[string]*protocol.APIBranch{}
	if c.key.Branch != "" {
		by[c.key.Branch] = &protocol.APIBranch{Name: c.key.Branch, States: map[protocol.DisplayState]int{}}
	}
	for _, v := range views {
		if c.key.Branch != "" && v.Branch != c.key.Branch {
			continue
		}
		b := by[v.Branch]
		if b == nil {
			b = &protocol.APIBranch{Name: v.Branch, States: map[protocol.DisplayState]int{}}
			by[v.Branch] = b
		}
		b.Total++
		b.States[v.DisplayState()]++
	}
	out := make([]protocol.APIBranch, 0, len(by))
	for _, b := range by {
		for _, st := range protocol.DisplayStates {
			b.States[st] += 0
		}
		out = append(out, *b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *Server) counts(c *call) (any, error) {
	q, err := decodeQuery(c.r.URL.RawQuery, []string{"from", "to", "by", "branch"}, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	branch, err := s.allowBranch(c.key, q.Branch)
	if err != nil {
		return nil, err
	}
	if s.cfg.Counts == nil {
		return nil, errStatus(http.StatusServiceUnavailable, "this hub keeps no usage counts")
	}
	rows, err := s.cfg.Counts.Counts(c.r.Context(), q.From, q.To, q.By, branch)
	if err != nil {
		return nil, err
	}
	if rows == nil {
		rows = []protocol.APICount{}
	}
	return rows, nil
}
