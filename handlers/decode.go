package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"unicode"

	"github.com/go-playground/validator/v10"
	"github.com/google/uuid"
	"github.com/labstack/echo/v4"

	"github.com/authsvc/authsvc/mailaddr"
	"github.com/authsvc/authsvc/problem"
)

// MaxBodyBytes bounds every request body (413 beyond it).
const MaxBodyBytes = 1 << 20

// decode reads the body strictly into T: JSON content type, one value, no
// unknown fields, at most MaxBodyBytes, then validates it. Echo's binder is not
// used: it accepts unknown fields and also binds path and query values.
func decode[T any](c echo.Context) (T, error) {
	var v T
	if err := decodeInto(c, &v, false); err != nil {
		return v, err
	}
	return v, nil
}

// decodeOptional is decode for endpoints whose body may be empty.
func decodeOptional[T any](c echo.Context) (T, error) {
	var v T
	if err := decodeInto(c, &v, true); err != nil {
		return v, err
	}
	return v, nil
}

func decodeInto(c echo.Context, v any, optional bool) error {
	req := c.Request()
	body, err := readBody(c)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return c.Validate(v)
		}
		return problem.BadRequest("malformed_json", "A JSON request body is required.")
	}
	if mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); mt != echo.MIMEApplicationJSON {
		return problem.New(http.StatusUnsupportedMediaType, "unsupported_media_type", "Send the body as application/json.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonProblem(err, v)
	}
	if dec.More() || dec.Decode(&struct{}{}) != io.EOF {
		return problem.BadRequest("malformed_json", "The body must hold exactly one JSON value.")
	}
	if n, ok := v.(normalizer); ok {
		n.normalize()
	}
	if field := fieldWithNUL(reflect.ValueOf(v), ""); field != "" {
		// PostgreSQL text cannot hold NUL, and no field of ours needs one.
		return problem.Invalid(problem.FieldError{Field: field, Message: "must not contain NUL characters"})
	}
	return c.Validate(v)
}

// readBody reads the whole request body, at most MaxBodyBytes (413 beyond):
// every body the API reads comes through here.
func readBody(c echo.Context) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Response(), c.Request().Body, MaxBodyBytes))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return nil, problem.New(http.StatusRequestEntityTooLarge, "body_too_large", "The request body exceeds 1 MiB.")
	}
	if err != nil {
		return nil, problem.BadRequest("malformed_request", "The request body could not be read.")
	}
	return body, nil
}

// fieldWithNUL returns the JSON path of the first string in v holding a NUL
// byte, or "". JSON decoding already replaced invalid UTF-8, so NUL is the one
// thing left that a database cannot store.
func fieldWithNUL(v reflect.Value, path string) string {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return ""
		}
		return fieldWithNUL(v.Elem(), path)
	case reflect.String:
		if strings.IndexByte(v.String(), 0) >= 0 {
			return path
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if f := fieldWithNUL(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); f != "" {
				return f
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if f := fieldWithNUL(it.Value(), path+"."+fmt.Sprint(it.Key())); f != "" {
				return f
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			if !t.Field(i).IsExported() {
				continue
			}
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
			if name == "" {
				name = t.Field(i).Name
			}
			if path != "" {
				name = path + "." + name
			}
			if f := fieldWithNUL(v.Field(i), name); f != "" {
				return f
			}
		}
	}
	return ""
}

// normalizer is implemented by requests that tidy their input (trim spaces,
// lower-case a domain) before it is validated.
type normalizer interface{ normalize() }

var unknownField = regexp.MustCompile(`^json: unknown field "(.*)"$`)

// jsonProblem explains a decoding failure without echoing the body back.
func jsonProblem(err error, v any) error {
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) {
		if typeErr.Field == "" {
			return problem.BadRequest("malformed_json", "The body must be a JSON object.")
		}
		return problem.Invalid(problem.FieldError{Field: typeErr.Field, Message: "must be " + jsonKind(typeErr.Type)})
	}
	if m := unknownField.FindStringSubmatch(err.Error()); m != nil {
		return problem.Invalid(problem.FieldError{Field: m[1], Message: "is not a known field"})
	}
	return problem.BadRequest("malformed_json", "The body is not valid JSON.")
}

func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "an object"
}

// pathUUID reads a UUID path parameter; anything else names no resource (404).
func pathUUID(c echo.Context, name string, notFound error) (uuid.UUID, error) {
	id, err := uuid.Parse(c.Param(name))
	if err != nil {
		return uuid.Nil, notFound
	}
	return id, nil
}

// requestValidator adapts validator/v10 to Echo and turns its errors into
// field errors named by JSON field, with messages written for clients.
type requestValidator struct{ v *validator.Validate }

var (
	usernamePattern = regexp.MustCompile(`^[A-Za-z0-9._-]{3,32}$`)
	slugPattern     = regexp.MustCompile(`^[a-z][a-z0-9_-]{1,31}$`)
)

func newValidator() *requestValidator {
	v := validator.New(validator.WithRequiredStructEnabled())
	v.RegisterTagNameFunc(func(f reflect.StructField) string {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			return ""
		}
		return name
	})
	v.RegisterValidation("username", func(fl validator.FieldLevel) bool {
		return usernamePattern.MatchString(fl.Field().String())
	})
	// mailbox: normalize put the address in its ASCII form; one that has none
	// (a non-ASCII local part, a domain IDNA refuses) is still as given.
	v.RegisterValidation("mailbox", func(fl validator.FieldLevel) bool {
		a, err := mailaddr.Normalize(fl.Field().String())
		return err == nil && a == fl.Field().String()
	})
	v.RegisterValidation("slug", func(fl validator.FieldLevel) bool {
		return slugPattern.MatchString(fl.Field().String())
	})
	return &requestValidator{v: v}
}

func (rv *requestValidator) Validate(i any) error {
	err := rv.v.Struct(i)
	var verrs validator.ValidationErrors
	if !errors.As(err, &verrs) {
		return nil // not a struct, or nothing wrong
	}
	fields := make([]problem.FieldError, 0, len(verrs))
	for _, fe := range verrs {
		fields = append(fields, problem.FieldError{Field: fieldPath(fe), Message: message(fe)})
	}
	return problem.Invalid(fields...)
}

// fieldPath is the JSON path without the struct name: "email", "roles[0]".
func fieldPath(fe validator.FieldError) string {
	ns := fe.Namespace()
	if _, rest, ok := strings.Cut(ns, "."); ok {
		return rest
	}
	return fe.Field()
}

func message(fe validator.FieldError) string {
	p := fe.Param()
	switch fe.Tag() {
	case "required":
		return "is required"
	case "email":
		return "must be a valid email address"
	case "mailbox":
		return "must have only ASCII characters before the @ (international domains are fine)"
	case "username":
		return "must be 3 to 32 letters, digits, '.', '_' or '-'"
	case "slug":
		return "must be 2 to 32 lowercase letters, digits, '_' or '-', starting with a letter"
	case "min":
		if fe.Kind() == reflect.String {
			return "must be at least " + p + " characters"
		}
		return "must have at least " + p + " items"
	case "max":
		if fe.Kind() == reflect.String {
			return "must be at most " + p + " characters"
		}
		return "must have at most " + p + " items"
	case "oneof":
		return "must be one of: " + strings.ReplaceAll(p, " ", ", ")
	case "uuid":
		return "must be a UUID"
	case "eq":
		return fmt.Sprintf("must be %q", p)
	case "dive", "unique":
		return "must not repeat values"
	case "required_without": // one of two fields: code or recovery_code, password or invite
		return "is required unless " + snakeCase(p) + " is sent"
	case "excluded_with":
		return "must not be sent with " + snakeCase(p)
	}
	return "is invalid"
}

// snakeCase is the JSON name of a request field named in a rule's parameter
// (RecoveryCode: recovery_code); the validator names fields by Go name there.
func snakeCase(goName string) string {
	var b strings.Builder
	for i, r := range goName {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}
