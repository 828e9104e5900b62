package password

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

const foreignPW = "correct horse"

// ab64enc is passlib's adapted base64: '.' for '+', no padding.
func ab64enc(b []byte) string {
	return strings.ReplaceAll(base64.RawStdEncoding.EncodeToString(b), "+", ".")
}

// foreignHashes are hashes of foreignPW in every imported format.
func foreignHashes(t *testing.T) map[string]string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(foreignPW), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	salt := []byte("0123456789abcdef")
	raw := base64.RawStdEncoding.EncodeToString
	sk, err := scrypt.Key([]byte(foreignPW), salt, 1<<10, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"bcrypt 2a": string(b),
		"bcrypt 2b": "$2b$" + string(b[4:]),
		"bcrypt 2y": "$2y$" + string(b[4:]),
		"argon2id": fmt.Sprintf("$argon2id$v=19$m=2048,t=1,p=1$%s$%s", raw(salt),
			raw(argon2.IDKey([]byte(foreignPW), salt, 1, 2048, 1, 32))),
		"argon2i": fmt.Sprintf("$argon2i$v=19$m=1024,t=2,p=1$%s$%s", raw(salt),
			raw(argon2.Key([]byte(foreignPW), salt, 2, 1024, 1, 32))),
		"scrypt": fmt.Sprintf("$scrypt$ln=10,r=8,p=1$%s$%s", raw(salt), raw(sk)),
		"pbkdf2-sha256 phc": fmt.Sprintf("$pbkdf2-sha256$1000$%s$%s", ab64enc(salt),
			ab64enc(pbkdf2.Key([]byte(foreignPW), salt, 1000, 32, sha256.New))),
		"pbkdf2-sha512 phc": fmt.Sprintf("$pbkdf2-sha512$1000$%s$%s", ab64enc(salt),
			ab64enc(pbkdf2.Key([]byte(foreignPW), salt, 1000, 64, sha512.New))),
		// Computed independently, as Werkzeug's generate_password_hash formats
		// them (f"{method}${salt}${h}", method "pbkdf2:sha256:600000", h =
		// hashlib.pbkdf2_hmac(name, password, salt_text.encode(), iterations).hex()):
		//   python3 -c 'import hashlib; print(hashlib.pbkdf2_hmac("sha256", b"correct horse", b"Xk3vQ9bT2mLp8RzW", 600000).hex())'
		"werkzeug sha256": "pbkdf2:sha256:600000$Xk3vQ9bT2mLp8RzW$ec292b4cbc25db6c2304674a5094b55f2642858a04e7c94e5290468315ebe5fa",
		"werkzeug sha512": "pbkdf2:sha512:10000$Xk3vQ9bT2mLp8RzW$1af6753ee9b619835badb3f4bc52155f661d81795df45ff358a28eae1f8fe72081eb212d6bd66e7803de25b39630ee902730136a7fb6bc56d23505fff5c6a356",
		// As Django's PBKDF2PasswordHasher.encode formats it
		// ("%s$%d$%s$%s" % (algorithm, iterations, salt, base64.b64encode(hash).decode("ascii").strip())):
		//   python3 -c 'import hashlib,base64; print(base64.b64encode(hashlib.pbkdf2_hmac("sha256", b"correct horse", b"a7Hd0LqPzX2sVb9c", 870000)).decode())'
		"django sha256": "pbkdf2_sha256$870000$a7Hd0LqPzX2sVb9c$htVIQj7u/65h7Jj0LTGZbo+NYI/0/ckNBoI+o1tGIuE=",
	}
}

func TestVerifyForeign(t *testing.T) {
	h := newTestHasher(t, cheapParams())
	for name, encoded := range foreignHashes(t) {
		t.Run(name, func(t *testing.T) {
			if err := CheckImportable(encoded); err != nil {
				t.Fatalf("CheckImportable: %v", err)
			}
			ok, rehash, err := h.Verify(encoded, foreignPW)
			if err != nil || !ok || !rehash {
				t.Errorf("Verify(right) = %v, %v, %v; want true, true, nil", ok, rehash, err)
			}
			ok, rehash, err = h.Verify(encoded, foreignPW+"!")
			if err != nil || ok || rehash {
				t.Errorf("Verify(wrong) = %v, %v, %v; want false, false, nil", ok, rehash, err)
			}
		})
	}
}

func TestCheckImportableRefuses(t *testing.T) {
	salt := base64.RawStdEncoding.EncodeToString([]byte("0123456789abcdef"))
	key := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
	hexKey := strings.Repeat("ab", 32)
	b, err := bcrypt.GenerateFromPassword([]byte("x"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]string{
		"empty":                  "",
		"plain text":             "hunter2",
		"md5 crypt":              "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
		"too long":               "$2a$" + strings.Repeat("a", 2000),
		"bcrypt cost 16":         "$2a$16$" + string(b[7:]),
		"bcrypt cost 31":         "$2b$31$" + string(b[7:]),
		"bcrypt truncated":       string(b[:50]),
		"argon2id 1 GiB":         "$argon2id$v=19$m=1048576,t=1,p=1$" + salt + "$" + key,
		"argon2i 257 MiB":        "$argon2i$v=19$m=263168,t=1,p=1$" + salt + "$" + key,
		"argon2id 101 passes":    "$argon2id$v=19$m=1024,t=101,p=1$" + salt + "$" + key,
		"argon2 v=16":            "$argon2i$v=16$m=1024,t=1,p=1$" + salt + "$" + key,
		"argon2d":                "$argon2d$v=19$m=1024,t=1,p=1$" + salt + "$" + key,
		"scrypt ln=21":           "$scrypt$ln=21,r=1,p=1$" + salt + "$" + key,
		"scrypt 1 GiB":           "$scrypt$ln=20,r=8,p=1$" + salt + "$" + key,
		"scrypt r*p":             "$scrypt$ln=4,r=8,p=100$" + salt + "$" + key,
		"scrypt p=0":             "$scrypt$ln=4,r=8,p=0$" + salt + "$" + key,
		"scrypt no params":       "$scrypt$$" + salt + "$" + key,
		"scrypt short key":       "$scrypt$ln=4,r=8,p=1$" + salt + "$" + base64.RawStdEncoding.EncodeToString(make([]byte, 4)),
		"phc 3M iterations":      "$pbkdf2-sha256$3000000$" + salt + "$" + key,
		"phc 0 iterations":       "$pbkdf2-sha256$0$" + salt + "$" + key,
		"phc bad base64":         "$pbkdf2-sha256$1000$" + salt + "$!!!!",
		"phc sha1":               "$pbkdf2$1000$" + salt + "$" + key,
		"werkzeug 3M iterations": "pbkdf2:sha256:3000000$salt$" + hexKey,
		"werkzeug no iterations": "pbkdf2:sha256$salt$" + hexKey,
		"werkzeug md5":           "pbkdf2:md5:1000$salt$" + hexKey,
		"werkzeug bad hex":       "pbkdf2:sha256:1000$salt$zz",
		"werkzeug scrypt":        "scrypt:32768:8:1$salt$" + hexKey,
		"django 3M iterations":   "pbkdf2_sha256$3000000$salt$" + key + "=",
		"django negative":        "pbkdf2_sha256$-1$salt$" + key + "=",
		"django bad base64":      "pbkdf2_sha256$1000$salt$***",
		"django fields":          "pbkdf2_sha256$1000$salt",
	}
	h := newTestHasher(t, cheapParams())
	for name, encoded := range tests {
		t.Run(name, func(t *testing.T) {
			err := CheckImportable(encoded)
			if err == nil {
				t.Fatalf("CheckImportable accepted it")
			}
			if encoded != "" && strings.Contains(err.Error(), encoded) {
				t.Errorf("the error echoes the hash: %v", err)
			}
			if name == "argon2id 1 GiB" {
				return // our own hashes may use up to 1 GiB (Params.Validate); only imports are held to 256 MiB
			}
			// Login refuses it too, before any work.
			if ok, rehash, err := h.Verify(encoded, "x"); err == nil || ok || rehash {
				t.Errorf("Verify = %v, %v, %v; want an error", ok, rehash, err)
			}
		})
	}
}

// Our own hashes are importable (export then import between databases).
func TestCheckImportableOwn(t *testing.T) {
	h := newTestHasher(t, DefaultParams())
	encoded, err := h.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckImportable(encoded); err != nil {
		t.Fatal(err)
	}
	if ok, rehash, err := h.Verify(encoded, "pw"); !ok || rehash || err != nil {
		t.Errorf("Verify = %v, %v, %v", ok, rehash, err)
	}
}

func FuzzCheckImportable(f *testing.F) {
	f.Add("$scrypt$ln=4,r=8,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA")
	f.Add("pbkdf2:sha256:1$s$abababababababababababababababab")
	f.Add("pbkdf2_sha256$1$s$AAAAAAAAAAAAAAAAAAAAAA==")
	f.Fuzz(func(t *testing.T, s string) {
		_ = CheckImportable(s)
	})
}
