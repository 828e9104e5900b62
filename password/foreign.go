package password

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/crypto/pbkdf2"
	"golang.org/x/crypto/scrypt"
)

// Foreign hashes: password hashes made by other systems and imported with
// their users (`authsvc users import`, POST /v1/users/import). Verify checks
// them with their own algorithm and answers needsRehash=true when they match,
// so the login replaces them with an Argon2id hash of ours.
//
// Their cost parameters come from outside, so they are bounded: an imported
// hash must not make one login cost minutes or gigabytes.
const (
	maxImportLen         = 1024      // the whole encoded string
	maxBcryptCost        = 15        // ~2-3 s on current hardware
	maxPBKDF2Iterations  = 2_000_000 // ~1 s of SHA-256
	maxScryptLogN        = 20        // N <= 2^20
	maxScryptMemory      = 256 << 20 // 128*N*r bytes
	maxScryptRP          = 64        // r*p: CPU cost beyond memory
	maxImportArgonMemory = 256 << 10 // KiB, i.e. 256 MiB
	maxForeignKeyLen     = 128
	minForeignKeyLen     = 16
)

var errUnsupported = errors.New("password: unsupported hash format")

// CheckImportable reports whether encoded is a hash an import may store: one
// of the supported formats, well formed, with parameters within the bounds.
// The error never contains the hash itself.
func CheckImportable(encoded string) error {
	if encoded == "" {
		return errors.New("password: empty hash")
	}
	if len(encoded) > maxImportLen {
		return fmt.Errorf("password: hash longer than %d characters", maxImportLen)
	}
	_, err := parseHash(encoded)
	return err
}

// checker verifies one password against a parsed hash.
type checker func(pw string) bool

// parseHash parses and bounds any supported hash, ours included. For
// Argon2id it applies the stricter import bound on memory.
func parseHash(encoded string) (checker, error) {
	switch {
	case strings.HasPrefix(encoded, "$argon2id$"), strings.HasPrefix(encoded, "$argon2i$"):
		return parseArgon2(encoded, maxImportArgonMemory)
	case strings.HasPrefix(encoded, "$2a$"), strings.HasPrefix(encoded, "$2b$"), strings.HasPrefix(encoded, "$2y$"):
		return parseBcrypt(encoded)
	case strings.HasPrefix(encoded, "$scrypt$"):
		return parseScrypt(encoded)
	case strings.HasPrefix(encoded, "$pbkdf2-sha256$"), strings.HasPrefix(encoded, "$pbkdf2-sha512$"):
		return parsePBKDF2PHC(encoded)
	case strings.HasPrefix(encoded, "pbkdf2:"):
		return parseWerkzeug(encoded)
	case strings.HasPrefix(encoded, "pbkdf2_sha256$"), strings.HasPrefix(encoded, "pbkdf2_sha512$"):
		return parseDjango(encoded)
	}
	return nil, errUnsupported
}

// verifyForeign is Verify for anything but our own Argon2id hashes.
func verifyForeign(encoded, pw string) (ok bool, err error) {
	if len(encoded) > maxImportLen {
		return false, fmt.Errorf("password: hash longer than %d characters", maxImportLen)
	}
	check, err := parseHash(encoded)
	if err != nil {
		return false, err
	}
	return check(pw), nil
}

func equal(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }

// parseArgon2 parses $argon2id$ or $argon2i$ PHC strings (v=19).
func parseArgon2(encoded string, maxMemKiB uint64) (checker, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[0] != "" {
		return nil, errors.New("password: malformed argon2 hash: want 5 $-separated fields")
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errors.New("password: unsupported argon2 version")
	}
	p, err := decodeParams(parts[3])
	if err != nil {
		return nil, err
	}
	if uint64(p.MemoryKiB) > maxMemKiB {
		return nil, fmt.Errorf("password: argon2 memory %d KiB above %d", p.MemoryKiB, maxMemKiB)
	}
	salt, err := decodeBytes("salt", parts[4])
	if err != nil {
		return nil, err
	}
	key, err := decodeBytes("key", parts[5])
	if err != nil {
		return nil, err
	}
	if len(key) > maxForeignKeyLen {
		return nil, fmt.Errorf("password: argon2 key longer than %d bytes", maxForeignKeyLen)
	}
	derive := argon2.IDKey
	if parts[1] == "argon2i" {
		derive = argon2.Key
	}
	return func(pw string) bool {
		return equal(derive([]byte(pw), salt, p.Iterations, p.MemoryKiB, p.Parallelism, uint32(len(key))), key)
	}, nil
}

// parseBcrypt parses $2a$, $2b$ and $2y$ (PHP's name for the fixed $2a$).
func parseBcrypt(encoded string) (checker, error) {
	h := []byte(encoded)
	if strings.HasPrefix(encoded, "$2y$") {
		h = []byte("$2a$" + encoded[4:])
	}
	if len(h) != 60 {
		return nil, errors.New("password: malformed bcrypt hash")
	}
	cost, err := bcrypt.Cost(h)
	if err != nil {
		return nil, errors.New("password: malformed bcrypt hash")
	}
	if cost < bcrypt.MinCost || cost > maxBcryptCost {
		return nil, fmt.Errorf("password: bcrypt cost %d out of range %d..%d", cost, bcrypt.MinCost, maxBcryptCost)
	}
	// CompareHashAndPassword compares in constant time.
	return func(pw string) bool { return bcrypt.CompareHashAndPassword(h, []byte(pw)) == nil }, nil
}

// ab64 decodes passlib's "adapted base64" ('.' for '+', no padding), which
// also reads plain unpadded standard base64.
func ab64(name, s string) ([]byte, error) {
	s = strings.TrimRight(strings.ReplaceAll(s, ".", "+"), "=")
	if len(s) > base64.RawStdEncoding.EncodedLen(maxLen) || strings.ContainsAny(s, "\r\n") {
		return nil, fmt.Errorf("password: malformed hash %s", name)
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("password: malformed hash %s", name)
	}
	return b, nil
}

func checkLens(salt, key []byte) error {
	if len(salt) < 1 || len(salt) > maxLen {
		return fmt.Errorf("password: hash salt is %d bytes, want 1..%d", len(salt), maxLen)
	}
	if len(key) < minForeignKeyLen || len(key) > maxForeignKeyLen {
		return fmt.Errorf("password: hash key is %d bytes, want %d..%d", len(key), minForeignKeyLen, maxForeignKeyLen)
	}
	return nil
}

// parseScrypt parses passlib's $scrypt$ln=16,r=8,p=1$SALT$KEY.
func parseScrypt(encoded string) (checker, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 || parts[0] != "" {
		return nil, errors.New("password: malformed scrypt hash: want 4 $-separated fields")
	}
	fields := strings.Split(parts[2], ",")
	if len(fields) != 3 {
		return nil, errors.New("password: malformed scrypt params")
	}
	var vals [3]uint64
	for i, name := range []string{"ln", "r", "p"} {
		v, ok := strings.CutPrefix(fields[i], name+"=")
		if !ok {
			return nil, errors.New("password: malformed scrypt params")
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("password: malformed scrypt param %s", name)
		}
		vals[i] = n
	}
	ln, r, p := vals[0], vals[1], vals[2]
	switch {
	case ln < 1 || ln > maxScryptLogN:
		return nil, fmt.Errorf("password: scrypt ln %d out of range 1..%d", ln, maxScryptLogN)
	case r < 1 || p < 1 || r*p > maxScryptRP:
		return nil, fmt.Errorf("password: scrypt r*p out of range 1..%d", maxScryptRP)
	case 128*r*(uint64(1)<<ln) > maxScryptMemory:
		return nil, fmt.Errorf("password: scrypt memory 128*N*r above %d MiB", maxScryptMemory>>20)
	}
	salt, err := ab64("salt", parts[3])
	if err != nil {
		return nil, err
	}
	key, err := ab64("key", parts[4])
	if err != nil {
		return nil, err
	}
	if err := checkLens(salt, key); err != nil {
		return nil, err
	}
	return func(pw string) bool {
		got, err := scrypt.Key([]byte(pw), salt, 1<<ln, int(r), int(p), len(key))
		return err == nil && equal(got, key)
	}, nil
}

func digest(name string) func() hash.Hash {
	switch name {
	case "sha256":
		return sha256.New
	case "sha512":
		return sha512.New
	}
	return nil
}

func iterations(s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n < 1 {
		return 0, errors.New("password: malformed pbkdf2 iterations")
	}
	if n > maxPBKDF2Iterations {
		return 0, fmt.Errorf("password: pbkdf2 iterations %d above %d", n, maxPBKDF2Iterations)
	}
	return int(n), nil
}

func pbkdf2Checker(h func() hash.Hash, iter int, salt, key []byte) (checker, error) {
	if err := checkLens(salt, key); err != nil {
		return nil, err
	}
	return func(pw string) bool { return equal(pbkdf2.Key([]byte(pw), salt, iter, len(key), h), key) }, nil
}

// parsePBKDF2PHC parses passlib's $pbkdf2-sha256$ITER$SALT$KEY (salt and key
// in adapted base64).
func parsePBKDF2PHC(encoded string) (checker, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 5 || parts[0] != "" {
		return nil, errors.New("password: malformed pbkdf2 hash: want 4 $-separated fields")
	}
	h := digest(strings.TrimPrefix(parts[1], "pbkdf2-"))
	iter, err := iterations(parts[2])
	if err != nil {
		return nil, err
	}
	salt, err := ab64("salt", parts[3])
	if err != nil {
		return nil, err
	}
	key, err := ab64("key", parts[4])
	if err != nil {
		return nil, err
	}
	return pbkdf2Checker(h, iter, salt, key)
}

// parseWerkzeug parses Werkzeug's pbkdf2:sha256:ITER$SALT$HEX
// (werkzeug.security.generate_password_hash): the salt is used as its text
// bytes, the key is hex. The iteration count is required: Werkzeug's default
// when it is left out changed between versions.
func parseWerkzeug(encoded string) (checker, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 3 {
		return nil, errors.New("password: malformed werkzeug hash: want method$salt$hash")
	}
	method := strings.Split(parts[0], ":")
	if len(method) != 3 || method[0] != "pbkdf2" {
		return nil, errors.New("password: malformed werkzeug method: want pbkdf2:DIGEST:ITERATIONS")
	}
	h := digest(method[1])
	if h == nil {
		return nil, errors.New("password: unsupported werkzeug digest")
	}
	iter, err := iterations(method[2])
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(parts[2])
	if err != nil {
		return nil, errors.New("password: malformed werkzeug hash key")
	}
	return pbkdf2Checker(h, iter, []byte(parts[1]), key)
}

// parseDjango parses Django's pbkdf2_sha256$ITER$SALT$B64
// (django.contrib.auth.hashers.PBKDF2PasswordHasher): the salt is used as
// its text bytes, the key is padded standard base64.
func parseDjango(encoded string) (checker, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 4 {
		return nil, errors.New("password: malformed django hash: want algorithm$iterations$salt$hash")
	}
	h := digest(strings.TrimPrefix(parts[0], "pbkdf2_"))
	iter, err := iterations(parts[1])
	if err != nil {
		return nil, err
	}
	key, err := base64.StdEncoding.DecodeString(parts[3])
	if err != nil {
		return nil, errors.New("password: malformed django hash key")
	}
	return pbkdf2Checker(h, iter, []byte(parts[2]), key)
}
