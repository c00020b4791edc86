package hubclient

import (
	"testing"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// FuzzHandleFrame feeds arbitrary frames from a (hostile or broken) hub to the
// client's frame router: it must never panic or block, must hand a response
// only to the request waiting for its ID, and must pass on only pushes that
// carry exactly one of terminal and event.
func FuzzHandleFrame(f *testing.F) {
	for _, seed := range []string{
		`{"response":{"id":1,"ok":true,"body":[{"id":"t1","name":"pc","online":true}]}}`,
		`{"response":{"id":2,"ok":false,"error":"forbidden"}}`,
		`{"response":{"id":99,"ok":true}}`,
		`{"push":{"terminal":{"id":"t1","name":"**pc** [x](http://evil)\u202e","online":true,"status":{"hostname":"h","os":"linux","agent_version":"1","session":"in-use","locked":false,"boot_time":"2026-11-23T10:00:00Z","agent_started":"2026-11-23T10:00:00Z","restarts":0,"cpu_percent":1,"mem_used":1,"mem_total":2,"disk_used":1,"disk_total":2,"outbox_dropped":0}}}}`,
		`{"push":{"event":{"id":5,"terminal":"t1","seq":1,"time":"2026-11-23T10:00:00Z","kind":"download.blocked","severity":"alert","data":{"name":"a.exe"}}}}`,
		`{"push":{}}`,
		`{"push":{"terminal":{"id":"t"},"event":{"id":1}}}`,
		`{"response":{"id":1,"ok":true},"push":{}}`,
		`{}`, `null`, `[]`, `{"response":null}`, `{"response":{"id":1}} trailing`, "\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c := &conn{pending: map[uint64]chan *protocol.StaffResponse{}}
		waiting := map[uint64]chan *protocol.StaffResponse{}
		for id := uint64(1); id <= 3; id++ {
			ch := make(chan *protocol.StaffResponse, 1)
			c.pending[id], waiting[id] = ch, ch
		}
		pushes := 0
		err := c.handle(data, func(p protocol.StaffPush) {
			pushes++
			if (p.Terminal == nil) == (p.Event == nil) {
				t.Fatalf("push with terminal %v and event %v passed on", p.Terminal != nil, p.Event != nil)
			}
		})
		answered := 0
		for id, ch := range waiting {
			select {
			case r := <-ch:
				answered++
				if r.ID != id {
					t.Fatalf("response %d handed to request %d", r.ID, id)
				}
				if _, still := c.pending[id]; still {
					t.Fatalf("request %d answered but still pending", id)
				}
			default:
			}
		}
		if err != nil && (pushes > 0 || answered > 0) {
			t.Fatalf("a refused frame was still delivered: %v", err)
		}
		if pushes+answered > 1 {
			t.Fatalf("one frame delivered %d times", pushes+answered)
		}
	})
}
