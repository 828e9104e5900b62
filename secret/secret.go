// Package secret turns SECRET_KEY into the keys authsvc needs: an AEAD that seals
// data at rest (signing keys, queued mail, refresh-token successors) and MACs that
// store tokens in a form a database reader cannot use.
package secret

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MinKeyBytes is the shortest SECRET_KEY accepted.
const MinKeyBytes = 32

// Key holds subkeys derived from SECRET_KEY; the raw secret is not kept.
type Key struct {
	aead   cipher.AEAD
	macKey []byte
}

// Parse accepts 64+ hex characters or base64 (standard or URL, padded or not) of at least 32 bytes.
func Parse(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	raw, err := decode(s)
	if err != nil {
		return nil, err
	}
	if len(raw) < MinKeyBytes {
		return nil, fmt.Errorf("must be at least %d bytes (64 hex characters), got %d", MinKeyBytes, len(raw))
	}
	return New(raw)
}

func decode(s string) ([]byte, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	if raw, err := hex.DecodeString(s); err == nil {
		return raw, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(s); err == nil {
			return raw, nil
		}
	}
	return nil, errors.New("is neither hex nor base64")
}

// New derives the subkeys from raw key material.
func New(raw []byte) (*Key, error) {
	sealKey, err := hkdf.Key(sha256.New, raw, nil, "authsvc seal v1", 32)
	if err != nil {
		return nil, err
	}
	macKey, err := hkdf.Key(sha256.New, raw, nil, "authsvc mac v1", 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sealKey)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Key{aead: aead, macKey: macKey}, nil
}

// Seal encrypts and authenticates plaintext; aad binds it to its context (a row id, a purpose).
func (k *Key) Seal(plaintext, aad []byte) []byte {
	nonce := make([]byte, k.aead.NonceSize(), k.aead.NonceSize()+len(plaintext)+k.aead.Overhead())
	rand.Read(nonce)
	return k.aead.Seal(nonce, nonce, plaintext, aad)
}

// ErrOpen means the sealed data was tampered with, sealed for another context, or sealed under another key.
var ErrOpen = errors.New("secret: cannot open sealed data")

func (k *Key) Open(sealed, aad []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n+k.aead.Overhead() {
		return nil, ErrOpen
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return out, nil
}

// MAC is HMAC-SHA256 of data under a per-purpose key, so a MAC for one use
// ("refresh", "reset", "cursor") is never valid for another.
func (k *Key) MAC(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, k.macKey)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write(data)
	return m.Sum(nil)
}

// Equal reports whether given is the configured secret (an admin signup key,
// an introspection client's secret). Both are hashed with SHA-256 first and the
// digests compared in constant time, so the time taken reveals neither the
// secret nor its length. An empty configured secret matches nothing, and costs
// the same comparison, so callers may pass "" for an unknown client.
func Equal(configured, given string) bool {
	c, g := sha256.Sum256([]byte(configured)), sha256.Sum256([]byte(given))
	return subtle.ConstantTimeCompare(c[:], g[:]) == 1 && configured != ""
}

// Token returns a new random opaque token: 32 bytes (256 bits), base64url.
func Token() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// codeAlphabet is 32 symbols (5 bits each) without those people confuse: no
// 0 or o, no 1 or l.
const codeAlphabet = "abcdefghijkmnpqrstuvwxyz23456789"

// Code returns n random symbols of codeAlphabet: codes people type (recovery codes).
func Code(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	for i := range b {
		b[i] = codeAlphabet[b[i]%32] // 256 is a multiple of 32: no bias
	}
	return string(b)
}

// LoadOrCreateFile returns the hex key stored at path, creating it (mode 0600) on first use.
// It backs the SQLite default, where a single box keeps its own secret beside the database.
func LoadOrCreateFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return strings.TrimSpace(string(data)), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	raw := make([]byte, MinKeyBytes)
	rand.Read(raw)
	s := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) { // another process won the race: use its key
		return LoadOrCreateFile(path)
	}
	if err != nil {
		return "", err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return "", err
	}
	return s, f.Close()
}
