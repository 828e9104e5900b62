package password

import (
	"encoding/base64"
	"strings"
	"testing"
)

// cheapParams keep the suite fast; they are the cheapest Validate allows.
func cheapParams() Params {
	return Params{MemoryKiB: 1024, Iterations: 1, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

func newTestHasher(t *testing.T, p Params) *Hasher {
	t.Helper()
	h, err := NewHasher(p)
	if err != nil {
		t.Fatalf("NewHasher(%+v): %v", p, err)
	}
	return h
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Params)
		ok     bool
	}{
		{"default", func(p *Params) { *p = DefaultParams() }, true},
		{"cheap", func(p *Params) {}, true},
		{"memory too low", func(p *Params) { p.MemoryKiB = 512 }, false},
		{"memory too high", func(p *Params) { p.MemoryKiB = 1<<20 + 1 }, false},
		{"zero iterations", func(p *Params) { p.Iterations = 0 }, false},
		{"too many iterations", func(p *Params) { p.Iterations = 21 }, false},
		{"zero parallelism", func(p *Params) { p.Parallelism = 0 }, false},
		{"too much parallelism", func(p *Params) { p.Parallelism = 65 }, false},
		{"short salt", func(p *Params) { p.SaltLen = 8 }, false},
		{"short key", func(p *Params) { p.KeyLen = 8 }, false},
		{"long key", func(p *Params) { p.KeyLen = 1025 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := cheapParams()
			tt.modify(&p)
			err := p.Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", p, err, tt.ok)
			}
			if _, err := NewHasher(p); (err == nil) != tt.ok {
				t.Errorf("NewHasher(%+v) = %v, want ok=%v", p, err, tt.ok)
			}
		})
	}
}

func TestHashFormat(t *testing.T) {
	h := newTestHasher(t, cheapParams())
	encoded, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Errorf("Hash = %q, want PHC argon2id prefix", encoded)
	}
	again, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if again == encoded {
		t.Error("two hashes of the same password are equal; salt is not random")
	}
}

func TestVerify(t *testing.T) {
	h := newTestHasher(t, cheapParams())
	encoded, err := h.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"right password", "correct horse", true},
		{"wrong password", "correct horsf", false},
		{"empty password", "", false},
		{"prefix", "correct", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(encoded, tt.pw)
			if err != nil || ok != tt.ok || rehash {
				t.Errorf("Verify = %v, %v, %v; want %v, false, nil", ok, rehash, err, tt.ok)
			}
		})
	}
}

func TestVerifyNeedsRehash(t *testing.T) {
	old := newTestHasher(t, cheapParams())
	encoded, err := old.Hash("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		modify func(*Params)
		rehash bool
	}{
		{"same params", func(p *Params) {}, false},
		{"memory", func(p *Params) { p.MemoryKiB = 2048 }, true},
		{"iterations", func(p *Params) { p.Iterations = 2 }, true},
		{"parallelism", func(p *Params) { p.Parallelism = 2 }, true},
		{"salt length", func(p *Params) { p.SaltLen = 32 }, true},
		{"key length", func(p *Params) { p.KeyLen = 64 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := cheapParams()
			tt.modify(&p)
			h := newTestHasher(t, p)
			ok, rehash, err := h.Verify(encoded, "correct horse")
			if err != nil || !ok || rehash != tt.rehash {
				t.Errorf("Verify = %v, %v, %v; want true, %v, nil", ok, rehash, err, tt.rehash)
			}
			// A wrong password must never ask for a rehash: the caller would
			// store a hash of the wrong password.
			if ok, rehash, _ := h.Verify(encoded, "wrong"); ok || rehash {
				t.Errorf("Verify(wrong) = %v, %v; want false, false", ok, rehash)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := newTestHasher(t, cheapParams())
	b64 := base64.RawStdEncoding.EncodeToString
	salt, key := b64(make([]byte, 16)), b64(make([]byte, 32))
	withParams := func(params string) string {
		return "$argon2id$v=19$" + params + "$" + salt + "$" + key
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"dollars only", "$$$$$"},
		{"too many fields", withParams("m=1024,t=1,p=1") + "$extra"},
		// argon2i and bcrypt are imported formats now: see foreign_test.go.
		{"old version", "$argon2id$v=16$m=1024,t=1,p=1$" + salt + "$" + key},
		{"no version", "$argon2id$m=1024,t=1,p=1$" + salt + "$" + key},
		{"params out of order", withParams("t=1,m=1024,p=1")},
		{"missing param", withParams("m=1024,t=1")},
		{"negative param", withParams("m=1024,t=-1,p=1")},
		{"non-numeric param", withParams("m=lots,t=1,p=1")},
		{"overflowing param", withParams("m=99999999999,t=1,p=1")},
		{"huge memory", withParams("m=4194304,t=1,p=1")},
		{"memory below 8 per lane", withParams("m=8,t=1,p=2")},
		{"zero iterations", withParams("m=1024,t=0,p=1")},
		{"huge iterations", withParams("m=1024,t=101,p=1")},
		{"zero parallelism", withParams("m=1024,t=1,p=0")},
		{"parallelism over uint8", withParams("m=4096,t=1,p=256")},
		{"bad base64 salt", "$argon2id$v=19$m=1024,t=1,p=1$!!!!!!!!!!!!!!!!!!!!!!$" + key},
		{"padded base64 key", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + key + "="},
		{"short salt", "$argon2id$v=19$m=1024,t=1,p=1$" + b64(make([]byte, 4)) + "$" + key},
		{"short key padded with newlines", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + b64(make([]byte, 7)) + "\r\n"},
		{"empty key", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$"},
		{"huge key", "$argon2id$v=19$m=1024,t=1,p=1$" + salt + "$" + b64(make([]byte, 1025))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(tt.encoded, "password")
			if err == nil || ok || rehash {
				t.Errorf("Verify(%q) = %v, %v, %v; want an error", tt.encoded, ok, rehash, err)
			}
		})
	}
}

// FuzzDecode checks that no stored string can make decoding panic or
// accept params outside the bounds.
func FuzzDecode(f *testing.F) {
	f.Add("$argon2id$v=19$m=1024,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
	f.Add("$argon2id$v=19$m=4194304,t=1,p=1$AAAA$AAAA")
	f.Add("$argon2id$v=19$m=10,t=1,p=1$00000000000$0000000000\r")
	f.Fuzz(func(t *testing.T, encoded string) {
		p, salt, key, err := decode(encoded)
		if err != nil {
			return
		}
		if p.MemoryKiB > maxMemoryKiB || p.Iterations < 1 || p.Iterations > maxStoredIterations ||
			p.Parallelism < 1 || len(salt) < minStoredLen || len(key) < minStoredLen ||
			len(salt) > maxLen || len(key) > maxLen {
			t.Errorf("decode(%q) accepted %+v, salt %d, key %d bytes", encoded, p, len(salt), len(key))
		}
	})
}

func TestVerifyDummy(t *testing.T) {
	h := newTestHasher(t, cheapParams())
	// The dummy hash must be a real hash with the current params, or
	// VerifyDummy would be cheaper than a real Verify.
	p, _, _, err := decode(h.dummy)
	if err != nil || p != h.params {
		t.Fatalf("dummy hash %q: params %+v, err %v; want %+v", h.dummy, p, err, h.params)
	}
	h.VerifyDummy("anything")
}

func BenchmarkHash(b *testing.B) {
	h, err := NewHasher(DefaultParams())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
