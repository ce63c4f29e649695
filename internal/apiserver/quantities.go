package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Bounds on the quantities a request body may hold. apimachinery parses a
// quantity with arbitrary precision, and its cost grows faster than
// linearly with the digits and the exponent: "1e-9999999" takes a second
// to decode, "1e-999999999" minutes, and a long run of digits as much. A
// kube-apiserver hangs on them; peapod refuses them before decoding,
// within bounds no real request comes near (quantities beyond 2^63 are
// clamped anyway).
const (
	maxQuantityLen      = 64
	maxQuantityExponent = 1000
)

// checkQuantities refuses a body of type t (a pointer to an API struct)
// whose quantities are beyond the bounds above, naming the field. Bodies
// with no long digit run or exponent, that is all real ones, cost one scan.
func checkQuantities(body []byte, mediaType string, t reflect.Type) error {
	if !suspiciousNumbers(body) {
		return nil
	}
	switch mediaType {
	case protobufType:
		return checkProtobufQuantities(body)
	case "application/yaml":
		js, err := yaml.YAMLToJSON(body)
		if err != nil {
			return nil // the decoder reports it
		}
		body = js
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	err := walkQuantities(dec, t, "")
	if errors.Is(err, errNotJSON) {
		return nil // the decoder reports it
	}
	return err
}

// suspiciousNumbers reports whether data holds a run of more than
// maxQuantityLen digits and dots, or an exponent of four or more digits.
func suspiciousNumbers(data []byte) bool {
	run := 0
	for i, c := range data {
		if c >= '0' && c <= '9' || c == '.' {
			run++
			if run > maxQuantityLen {
				return true
			}
			continue
		}
		run = 0
		if (c == 'e' || c == 'E') && i > 0 && (data[i-1] >= '0' && data[i-1] <= '9' || data[i-1] == '.') {
			j := i + 1
			if j < len(data) && (data[j] == '+' || data[j] == '-') {
				j++
			}
			k := j
			for k < len(data) && data[k] >= '0' && data[k] <= '9' {
				k++
			}
			if k-j >= 4 {
				return true
			}
		}
	}
	return false
}

// checkQuantity is the bound on one quantity string.
func checkQuantity(s, path string) error {
	if len(s) > maxQuantityLen {
		return fmt.Errorf("%s: quantity of %d characters is longer than the %d peapod accepts", path, len(s), maxQuantityLen)
	}
	if i := strings.IndexAny(s, "eE"); i > 0 {
		exp, err := strconv.ParseInt(s[i+1:], 10, 64)
		if err == nil && (exp > maxQuantityExponent || exp < -maxQuantityExponent) {
			return fmt.Errorf("%s: quantity %q has an exponent beyond the ±%d peapod accepts", path, s, maxQuantityExponent)
		}
		if err != nil && len(s[i+1:]) > 0 && strings.Trim(s[i+1:], "+-0123456789") == "" {
			return fmt.Errorf("%s: quantity %q has an exponent beyond the ±%d peapod accepts", path, s, maxQuantityExponent)
		}
	}
	return nil
}

var errNotJSON = errors.New("not JSON")

// walkQuantities reads one JSON value from dec along the Go type t (nil:
// no type, skip it) and checks every value that decodes into a
// resource.Quantity. It reads tokens rather than decoding into maps
// because a key given twice is decoded twice by the strict decoder.
func walkQuantities(dec *json.Decoder, t reflect.Type, path string) error {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	tok, err := dec.Token()
	if err != nil {
		return errNotJSON
	}
	switch v := tok.(type) {
	case string:
		if t == quantityType {
			return checkQuantity(v, path)
		}
	case json.Number:
		if t == quantityType {
			return checkQuantity(string(v), path)
		}
	case json.Delim:
		switch v {
		case '{':
			var fields map[string]reflect.Type
			var elem reflect.Type
			switch {
			case t == nil || t == quantityType:
			case t.Kind() == reflect.Struct && !reflect.PointerTo(t).Implements(jsonUnmarshaler):
				fields = map[string]reflect.Type{}
				jsonFields(t, fields)
			case t.Kind() == reflect.Map:
				elem = t.Elem()
			}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return errNotJSON
				}
				key, _ := tok.(string)
				next, sub := elem, path+"["+key+"]"
				if fields != nil {
					next, sub = fields[key], joinPath(path, key)
				}
				if err := walkQuantities(dec, next, sub); err != nil {
					return err
				}
			}
		case '[':
			var elem reflect.Type
			if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
				elem = t.Elem()
			}
			for i := 0; dec.More(); i++ {
				if err := walkQuantities(dec, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
		if _, err := dec.Token(); err != nil { // the closing delimiter
			return errNotJSON
		}
	}
	return nil
}

var jsonUnmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// jsonFields collects the JSON names of t's fields, inlined structs
// included, as encoding/json (and sigs.k8s.io/json) name them.
func jsonFields(t reflect.Type, into map[string]reflect.Type) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" && opts == "" {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if name == "" && ft.Kind() == reflect.Struct && (f.Anonymous || strings.Contains(opts, "inline")) {
			jsonFields(ft, into)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		into[name] = f.Type
	}
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// checkProtobufQuantities checks a protobuf body. A Quantity is encoded as
// a message whose field 1 is its string, so every string framed as
// 0x0a <length> and shaped as a quantity is one; anything else (a Secret's
// bytes) does not match the frame.
func checkProtobufQuantities(body []byte) error {
	for i := 0; i < len(body); i++ {
		if body[i] != 0x0a {
			continue
		}
		n, w := binary.Uvarint(body[i+1:])
		start := i + 1 + w
		if w <= 0 || n < 6 || n > uint64(len(body)-start) {
			continue
		}
		s := string(body[start : start+int(n)])
		if !quantityShaped(s) {
			continue
		}
		if err := checkQuantity(s, "quantity"); err != nil {
			return err
		}
	}
	return nil
}

// quantityShaped reports whether s has the syntax of a quantity.
func quantityShaped(s string) bool {
	s = strings.TrimLeft(s, "+-")
	digits := strings.TrimLeft(s, "0123456789.")
	if len(digits) == len(s) {
		return false
	}
	return strings.Trim(digits, "eEinumkKMGTP+-0123456789") == ""
}
