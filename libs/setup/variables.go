package setup

import (
	"reflect"
	"strings"
)

// Variables lists the environment variables a config struct reads, in
// field order, the way envconfig finds them: a field's envconfig tag (or
// its upper-cased name), embedded structs walked into. Tests compare it
// with --help and with the service README, so neither can fall behind
// the struct.
func Variables(spec any) []string {
	t := reflect.TypeOf(spec)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var names []string
	var walk func(reflect.Type)
	walk = func(t reflect.Type) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() || f.Tag.Get("ignored") == "true" {
				continue
			}
			key := f.Tag.Get("envconfig")
			if f.Anonymous && f.Type.Kind() == reflect.Struct && key == "" {
				walk(f.Type)
				continue
			}
			if key == "" {
				key = strings.ToUpper(f.Name)
			}
			names = append(names, key)
		}
	}
	walk(t)
	return names
}
