package httpapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getkin/kin-openapi/openapi3"
)

// Bounds on the shape of a JSON request body, checked before kin-openapi
// decodes it into generic values (which costs 20-50 bytes of heap per value:
// a 1 MiB body of `[0,0,...]` is half a million values and 55 MB). The
// largest valid request (an article sent back whole, author and 20 tags
// included) has fewer than 50 values and a depth of 4.
const (
	maxJSONValues = 10000
	maxJSONDepth  = 32
)

// checkJSONBody makes sure that the value a handler decodes from data is the
// value kin-openapi validated. kin-openapi validates the exact-case member
// names; encoding/json (the generated handlers' decoder) matches member names
// to fields case-insensitively and keeps the last of duplicates. So, in every
// object at any depth, checkJSONBody refuses:
//   - two members whose names are equal or equal up to case (as
//     encoding/json folds them), and
//   - a member whose name is not one of the schema's properties but equals
//     one up to case.
//
// Then every struct field is filled from exactly the one member kin-openapi
// validated under that name, or from none. It also bounds the number of
// values and the depth (see maxJSONValues) and refuses anything but one JSON
// value, so that trailing data cannot reach a decoder. schema may be nil.
func checkJSONBody(data []byte, schema *openapi3.Schema) error {
	if !json.Valid(data) {
		return Invalid("body: malformed JSON")
	}
	w := jsonWalker{data: data}
	return w.value(schema, "", 0)
}

// jsonWalker walks a document that json.Valid accepted, so it needs no
// syntax checks of its own.
type jsonWalker struct {
	data   []byte
	pos    int
	values int
}

func (w *jsonWalker) space() {
	for w.pos < len(w.data) {
		switch w.data[w.pos] {
		case ' ', '\t', '\n', '\r':
			w.pos++
		default:
			return
		}
	}
}

func (w *jsonWalker) value(s *openapi3.Schema, path string, depth int) error {
	w.values++
	if w.values > maxJSONValues {
		return Invalid(fmt.Sprintf("body: more than %d JSON values", maxJSONValues))
	}
	if depth > maxJSONDepth {
		return Invalid(fmt.Sprintf("body: nested deeper than %d levels", maxJSONDepth))
	}
	w.space()
	switch w.data[w.pos] {
	case '{':
		return w.object(s, path, depth)
	case '[':
		return w.array(s, path, depth)
	case '"':
		w.str()
	default: // number, true, false, null: up to the next delimiter
		for w.pos < len(w.data) && !strings.ContainsRune(",]} \t\n\r", rune(w.data[w.pos])) {
			w.pos++
		}
	}
	return nil
}

// str skips a string and returns it with its quotes.
func (w *jsonWalker) str() []byte {
	start := w.pos
	w.pos++ // opening quote
	for w.data[w.pos] != '"' {
		if w.data[w.pos] == '\\' {
			w.pos++
		}
		w.pos++
	}
	w.pos++
	return w.data[start:w.pos]
}

func (w *jsonWalker) array(s *openapi3.Schema, path string, depth int) error {
	var items *openapi3.Schema
	if s != nil && s.Items != nil {
		items = s.Items.Value
	}
	w.pos++ // [
	for i := 0; ; i++ {
		w.space()
		switch w.data[w.pos] {
		case ']':
			w.pos++
			return nil
		case ',':
			w.pos++
		}
		if err := w.value(items, fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
			return err
		}
	}
}

func (w *jsonWalker) object(s *openapi3.Schema, path string, depth int) error {
	props := properties(s)
	var folded map[string]string // folded property name → property name
	if len(props) > 0 {
		folded = make(map[string]string, len(props))
		for name := range props {
			folded[foldName(name)] = name
		}
	}
	seen := map[string]string{} // folded member name → member name
	w.pos++                     // {
	for {
		w.space()
		switch w.data[w.pos] {
		case '}':
			w.pos++
			return nil
		case ',':
			w.pos++
			w.space()
		}
		name := unquote(w.str())
		at := name
		if path != "" {
			at = path + "." + name
		}
		f := foldName(name)
		if prev, ok := seen[f]; ok {
			if prev == name {
				return Invalid(fmt.Sprintf("body: %s is given twice", at))
			}
			return Invalid(fmt.Sprintf("body: %q and %q differ only in case", prev, name))
		}
		seen[f] = name
		child, known := props[name]
		if !known {
			if want, ok := folded[f]; ok {
				return Invalid(fmt.Sprintf("body: %s is not a field; did you mean %q?", at, want))
			}
			if s != nil && s.AdditionalProperties.Schema != nil {
				child = s.AdditionalProperties.Schema.Value
			}
		}
		w.space()
		w.pos++ // :
		if err := w.value(child, at, depth+1); err != nil {
			return err
		}
	}
}

// properties returns the properties s declares, including those of its
// allOf, anyOf and oneOf parts (a name declared twice keeps the first).
func properties(s *openapi3.Schema) map[string]*openapi3.Schema {
	if s == nil {
		return nil
	}
	out := map[string]*openapi3.Schema{}
	var add func(s *openapi3.Schema)
	add = func(s *openapi3.Schema) {
		for name, ref := range s.Properties {
			if _, ok := out[name]; !ok && ref != nil {
				out[name] = ref.Value
			}
		}
		for _, parts := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
			for _, ref := range parts {
				if ref != nil && ref.Value != nil {
					add(ref.Value)
				}
			}
		}
	}
	add(s)
	return out
}

// unquote returns the member name of a quoted JSON string as encoding/json
// sees it (escapes resolved, invalid UTF-8 replaced).
func unquote(quoted []byte) string {
	plain := true
	for _, c := range quoted {
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			break
		}
	}
	if plain {
		return string(quoted[1 : len(quoted)-1])
	}
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		return string(quoted) // cannot happen after json.Valid
	}
	return s
}

// foldName folds name exactly as encoding/json does when it matches member
// names to struct fields (encoding/json's fold.go): two names match there
// if and only if their foldName results are equal.
func foldName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if r < utf8.RuneSelf {
			if 'a' <= r && r <= 'z' {
				r -= 'a' - 'A'
			}
			b.WriteRune(r)
			continue
		}
		b.WriteRune(foldRune(r))
	}
	return b.String()
}

// foldRune returns the smallest rune of r's case-folding orbit.
func foldRune(r rune) rune {
	for {
		r2 := unicode.SimpleFold(r)
		if r2 <= r {
			return r2
		}
		r = r2
	}
}
