package store

import (
	"reflect"
	"time"

	"gorm.io/gorm"
)

// SQLite stores times as text and compares them as text, so a time written in
// another zone sorts wrongly against one in UTC. Every time the store writes
// is converted to UTC on the way in (this callback, for models and update
// maps), and every time it compares against is converted by its caller in
// this package (utc).

// registerUTC makes creates and updates write their times in UTC.
func registerUTC(db *gorm.DB) error {
	if err := db.Callback().Create().Before("gorm:create").Register("authsvc:utc", toUTC); err != nil {
		return err
	}
	return db.Callback().Update().Before("gorm:update").Register("authsvc:utc", toUTC)
}

func toUTC(db *gorm.DB) {
	if m, ok := db.Statement.Dest.(map[string]any); ok {
		for k, v := range m {
			m[k] = utcValue(v)
		}
		return
	}
	utcFields(db.Statement.ReflectValue)
}

func utcValue(v any) any {
	switch t := v.(type) {
	case time.Time:
		return t.UTC()
	case *time.Time:
		return utcPtr(t)
	}
	return v
}

var timeType = reflect.TypeOf(time.Time{})

// utcFields converts the time fields of a struct, or of each struct in a slice.
func utcFields(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer:
		if !v.IsNil() {
			utcFields(v.Elem())
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			utcFields(v.Index(i))
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
			}
			return
		}
		for i := range v.NumField() {
			f := v.Field(i)
			if !v.Type().Field(i).IsExported() {
				continue
			}
			switch {
			case f.Type() == timeType, f.Kind() == reflect.Pointer && f.Type().Elem() == timeType:
				utcFields(f)
			case f.Kind() == reflect.Struct && v.Type().Field(i).Anonymous:
				utcFields(f)
			}
		}
	}
}

// utc is t in UTC, for comparisons in queries.
func utc(t time.Time) time.Time { return t.UTC() }
