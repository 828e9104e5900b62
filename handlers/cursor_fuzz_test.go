package handlers_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/authsvc/authsvc/handlers"
	"github.com/authsvc/authsvc/internal/apitest"
	"github.com/authsvc/authsvc/secret"
)

// FuzzCursor: decoding any string never panics and accepts only cursors this
// service issued for that list; Decode(Encode(id)) is id; a cursor of one
// list never decodes in another, nor under another key.
//
//	go test -run='^$' -fuzz='^FuzzCursor$' -fuzztime=1m ./handlers/
func FuzzCursor(f *testing.F) {
	key, err := secret.Parse(apitest.TestSecretKey)
	if err != nil {
		f.Fatal(err)
	}
	otherKey, err := secret.Parse(strings.Repeat("5a", 32))
	if err != nil {
		f.Fatal(err)
	}
	users, audit := handlers.NewCursors(key, "users"), handlers.NewCursors(key, "audit")
	forged := handlers.NewCursors(otherKey, "users")

	id := uuid.MustParse("01a209a1-7e86-7281-8bdd-d7a9864f3b29")
	valid := users.Encode(id)
	f.Add(valid, id[:], "users")
	f.Add(audit.Encode(id), id[:], "audit")
	f.Add(forged.Encode(id), id[:], "users\x00")
	f.Add(valid[:len(valid)-1], []byte{}, "")
	f.Add(valid+"A", make([]byte, 16), "Users")
	f.Add(valid[:10]+"\n"+valid[10:], []byte("0123456789abcdef"), "users ")
	f.Add(strings.ToUpper(valid), []byte{0xff, 0xfe}, "audi")

	f.Fuzz(func(t *testing.T, s string, raw []byte, list string) {
		// Any string: no panic, and only a genuine users cursor passes.
		got, err := users.Decode(s)
		switch {
		case s == "" && (err != nil || got != uuid.Nil):
			t.Fatalf("Decode(%q) = %v, %v; want no cursor", s, got, err)
		case err != nil && got != uuid.Nil:
			t.Fatalf("Decode(%q) = %v with error %v", s, got, err)
		case err == nil && s != "":
			if got == uuid.Nil {
				t.Fatalf("Decode(%q) accepted the nil id", s)
			}
			// base64 skips line breaks; nothing else may differ from what Encode wrote.
			if canon := strings.NewReplacer("\r", "", "\n", "").Replace(s); canon != users.Encode(got) {
				t.Fatalf("Decode(%q) = %v, but Encode gives %q", s, got, users.Encode(got))
			}
			if _, err := audit.Decode(s); err == nil {
				t.Fatalf("users cursor %q decodes as an audit cursor", s)
			}
			if _, err := forged.Decode(s); err == nil {
				t.Fatalf("cursor %q decodes under another key", s)
			}
		}
		if _, err := audit.Decode(s); err == nil && s != "" {
			if _, err := users.Decode(s); err == nil {
				t.Fatalf("audit cursor %q decodes as a users cursor", s)
			}
		}

		// Any id: the round trip, and no other list or key accepts its cursor.
		if len(raw) < 16 {
			return
		}
		id, _ := uuid.FromBytes(raw[:16])
		if id == uuid.Nil {
			return
		}
		for _, cs := range []handlers.Cursors{users, audit, handlers.NewCursors(key, list)} {
			enc := cs.Encode(id)
			if back, err := cs.Decode(enc); err != nil || back != id {
				t.Fatalf("Decode(Encode(%v)) = %v, %v", id, back, err)
			}
		}
		enc := handlers.NewCursors(key, list).Encode(id)
		if _, err := users.Decode(enc); (err == nil) != (list == "users") {
			t.Fatalf("a cursor of list %q: users.Decode error = %v", list, err)
		}
		if _, err := audit.Decode(enc); (err == nil) != (list == "audit") {
			t.Fatalf("a cursor of list %q: audit.Decode error = %v", list, err)
		}
		if _, err := handlers.NewCursors(otherKey, list).Decode(enc); err == nil {
			t.Fatalf("a cursor of list %q decodes under another key", list)
		}
	})
}
