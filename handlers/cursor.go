package handlers

import (
	"crypto/hmac"
	"encoding/base64"
	"strconv"

	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/problem"
	"github.com/authsvc/authsvc/secret"
)

// Pagination cursors are the last id of a page, tagged with the list they
// belong to and MACed with SECRET_KEY: a client can neither forge nor alter
// one, and a users cursor is no audit cursor. Layout (base64url, no padding):
// version byte, 16-byte id, first 16 bytes of the MAC.
const (
	cursorVersion = 1
	cursorMACLen  = 16
	cursorLen     = 1 + 16 + cursorMACLen
)

var errInvalidCursor = problem.BadRequest("invalid_cursor", "The cursor is malformed or was not issued by this service.")

// Cursors signs and checks the pagination cursors of one list ("users", "audit").
type Cursors struct {
	key  *secret.Key
	list string
}

// NewCursors makes the cursors of the named list, signed with key.
func NewCursors(key *secret.Key, list string) Cursors { return Cursors{key: key, list: list} }

// Encode makes the cursor of the page that ends at last.
func (cs Cursors) Encode(last uuid.UUID) string {
	payload := append([]byte{cursorVersion}, last[:]...)
	return base64.RawURLEncoding.EncodeToString(append(payload, cs.mac(payload)...))
}

// Decode reads a ?cursor= of the list: uuid.Nil when absent, 400
// invalid_cursor when malformed, tampered with, or of another list.
func (cs Cursors) Decode(s string) (uuid.UUID, error) {
	if s == "" {
		return uuid.Nil, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(raw) != cursorLen || raw[0] != cursorVersion {
		return uuid.Nil, errInvalidCursor
	}
	payload, mac := raw[:1+16], raw[1+16:]
	if !hmac.Equal(mac, cs.mac(payload)) {
		return uuid.Nil, errInvalidCursor
	}
	id, err := uuid.FromBytes(payload[1:])
	if err != nil || id == uuid.Nil {
		return uuid.Nil, errInvalidCursor
	}
	return id, nil
}

func (cs Cursors) mac(payload []byte) []byte {
	data := append([]byte(cs.list+"\x00"), payload...)
	return cs.key.MAC("cursor", data)[:cursorMACLen]
}

// Page sizes of the keyset-paginated lists.
const (
	defaultPageSize = 50
	maxPageSize     = 200
)

// pageLimit reads ?limit=: the default when absent, 400 unless 1 to maxPageSize.
func pageLimit(c echo.Context) (int, error) {
	s := c.QueryParam("limit")
	if s == "" {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, problem.Invalid(problem.FieldError{Field: "limit",
			Message: "must be a whole number from 1 to " + strconv.Itoa(maxPageSize)})
	}
	return n, nil
}
