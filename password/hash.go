// Package password hashes passwords with Argon2id and checks new passwords
// against a strength policy.
package password

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Bounds for parameters we choose ourselves (Params.Validate). The memory
// floor is low enough for fast tests; production should use DefaultParams.
const (
	minMemoryKiB   = 1024    // 1 MiB
	maxMemoryKiB   = 1 << 20 // 1 GiB
	minIterations  = 1
	maxIterations  = 20
	minParallelism = 1
	maxParallelism = 64
	minSaltLen     = 16 // RFC 9106 recommends 128-bit salts
	minKeyLen      = 16
	maxLen         = 1024 // for both salt and key
)

// Looser bounds for parameters read back from a stored hash: old hashes may
// use other settings, but a corrupt row must not make us allocate gigabytes.
const (
	maxStoredIterations = 100
	minStoredLen        = 8
)

// Params are the Argon2id cost settings. They are encoded into every hash,
// so changing them only affects new hashes (see Verify's needsRehash).
type Params struct {
	MemoryKiB   uint32
	Iterations  uint32
	Parallelism uint8
	SaltLen     uint32
	KeyLen      uint32
}

// DefaultParams returns the OWASP-recommended Argon2id settings
// (m=19 MiB, t=2, p=1) with a 16-byte salt and a 32-byte key.
func DefaultParams() Params {
	return Params{MemoryKiB: 19456, Iterations: 2, Parallelism: 1, SaltLen: 16, KeyLen: 32}
}

// Validate reports whether p is a sane choice for hashing new passwords.
func (p Params) Validate() error {
	switch {
	case p.MemoryKiB < minMemoryKiB || p.MemoryKiB > maxMemoryKiB:
		return fmt.Errorf("password: memory must be %d..%d KiB, got %d", minMemoryKiB, maxMemoryKiB, p.MemoryKiB)
	case p.Iterations < minIterations || p.Iterations > maxIterations:
		return fmt.Errorf("password: iterations must be %d..%d, got %d", minIterations, maxIterations, p.Iterations)
	case p.Parallelism < minParallelism || p.Parallelism > maxParallelism:
		return fmt.Errorf("password: parallelism must be %d..%d, got %d", minParallelism, maxParallelism, p.Parallelism)
	case p.SaltLen < minSaltLen || p.SaltLen > maxLen:
		return fmt.Errorf("password: salt length must be %d..%d bytes, got %d", minSaltLen, maxLen, p.SaltLen)
	case p.KeyLen < minKeyLen || p.KeyLen > maxLen:
		return fmt.Errorf("password: key length must be %d..%d bytes, got %d", minKeyLen, maxLen, p.KeyLen)
	}
	return nil
}

// Hasher hashes and verifies passwords. It is safe for concurrent use.
type Hasher struct {
	params Params
	dummy  string // hash of a random password, see VerifyDummy
}

// NewHasher returns a Hasher for p. It hashes one random password up front
// so that VerifyDummy has a real hash to work against.
func NewHasher(p Params) (*Hasher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	h := &Hasher{params: p}
	dummy, err := h.Hash(rand.Text())
	if err != nil {
		return nil, err
	}
	h.dummy = dummy
	return h, nil
}

// Hash returns pw hashed with a fresh random salt, in PHC string format:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>.
func (h *Hasher) Hash(pw string) (string, error) {
	salt := make([]byte, h.params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("password: generating salt: %w", err)
	}
	p := h.params
	key := argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Iterations, p.Parallelism,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key)), nil
}

// Verify reports whether pw matches the encoded hash. needsRehash is true
// only when ok is true and the hash was made with other params than h's, so
// the caller can store a fresh Hash(pw) while it still has the password.
// err is non-nil only when encoded is not a hash we can check.
//
// Imported hashes of other formats (see CheckImportable) are checked with
// their own algorithm; when one matches, needsRehash is always true.
func (h *Hasher) Verify(encoded, pw string) (ok bool, needsRehash bool, err error) {
	if !strings.HasPrefix(encoded, "$argon2id$") {
		if ok, err = verifyForeign(encoded, pw); err != nil || !ok {
			return false, false, err
		}
		return true, true, nil
	}
	p, salt, key, err := decode(encoded)
	if err != nil {
		return false, false, err
	}
	got := argon2.IDKey([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, p.KeyLen)
	if subtle.ConstantTimeCompare(got, key) != 1 {
		return false, false, nil
	}
	return true, p != h.params, nil
}

// VerifyDummy does the same work as a failed Verify with h's params. Call it
// when the user does not exist, so the response time does not reveal that.
func (h *Hasher) VerifyDummy(pw string) {
	_, _, _ = h.Verify(h.dummy, pw)
}

// decode parses a PHC-format Argon2id hash. It checks the params before
// anything is derived from them, since stored strings are not trusted.
func decode(encoded string) (p Params, salt, key []byte, err error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return p, nil, nil, errors.New("password: malformed hash: want 5 $-separated fields")
	}
	if parts[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("password: unsupported hash algorithm %q", parts[1])
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("password: unsupported argon2 version %q", parts[2])
	}
	if p, err = decodeParams(parts[3]); err != nil {
		return p, nil, nil, err
	}
	if salt, err = decodeBytes("salt", parts[4]); err != nil {
		return p, nil, nil, err
	}
	if key, err = decodeBytes("key", parts[5]); err != nil {
		return p, nil, nil, err
	}
	p.SaltLen, p.KeyLen = uint32(len(salt)), uint32(len(key))
	return p, salt, key, nil
}

// decodeParams parses "m=<KiB>,t=<iterations>,p=<parallelism>".
func decodeParams(s string) (Params, error) {
	var p Params
	fields := strings.Split(s, ",")
	if len(fields) != 3 {
		return p, fmt.Errorf("password: malformed hash params %q", s)
	}
	var vals [3]uint64
	for i, name := range []string{"m", "t", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return p, fmt.Errorf("password: malformed hash params %q", s)
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return p, fmt.Errorf("password: malformed hash param %s: %w", name, err)
		}
		vals[i] = n
	}
	m, t, par := vals[0], vals[1], vals[2]
	switch {
	case par < 1 || par > 255:
		return p, fmt.Errorf("password: hash parallelism %d out of range 1..255", par)
	case m < 8*par || m > maxMemoryKiB: // argon2 needs at least 8 KiB per lane
		return p, fmt.Errorf("password: hash memory %d KiB out of range %d..%d", m, 8*par, maxMemoryKiB)
	case t < 1 || t > maxStoredIterations:
		return p, fmt.Errorf("password: hash iterations %d out of range 1..%d", t, maxStoredIterations)
	}
	return Params{MemoryKiB: uint32(m), Iterations: uint32(t), Parallelism: uint8(par)}, nil
}

// decodeBytes decodes an unpadded base64 salt or key of sane length.
func decodeBytes(name, s string) ([]byte, error) {
	enc := base64.RawStdEncoding
	// Refuse a huge field before decoding it. The decoded length is checked
	// again because the decoder skips newlines.
	if len(s) > enc.EncodedLen(maxLen) {
		return nil, fmt.Errorf("password: hash %s longer than %d bytes", name, maxLen)
	}
	b, err := enc.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("password: malformed hash %s: %w", name, err)
	}
	if len(b) < minStoredLen || len(b) > maxLen {
		return nil, fmt.Errorf("password: hash %s is %d bytes, want %d..%d", name, len(b), minStoredLen, maxLen)
	}
	return b, nil
}
