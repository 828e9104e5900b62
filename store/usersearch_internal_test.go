package store

import "testing"

// A search reads the trigram indexes only when pg_trgm can take a trigram from
// its pattern: three letters or digits in a row.
func TestHasTrigram(t *testing.T) {
	for q, want := range map[string]bool{
		"s4242": true, "abc": true, "Émi": true, "x@abc.de": true, "ab": false, "a.b": false,
		"ab.cd": false, "@.-_%": false, "ÉM": false, "": false, "12_34": false, "123": true,
	} {
		if got := hasTrigram(q); got != want {
			t.Errorf("hasTrigram(%q) = %v, want %v", q, got, want)
		}
	}
}
