package config

import (
	"fmt"
	"sort"
	"strings"
)

// Bucket is where a service reads or writes objects, given in the originals'
// form: `bucket_endpoint=… bucket_id=… bucket_key=… bucket_name=… bucket_path=…`
// (endpoint, access key id, secret key, bucket, key prefix), plus an optional
// bucket_region. The endpoint picks the backend (see package blob).
type Bucket struct {
	Endpoint string
	ID       string
	Key      Secret
	Name     string
	Path     string
	Region   string
}

var bucketKeys = map[string]func(*Bucket, string){
	"bucket_endpoint": func(b *Bucket, v string) { b.Endpoint = v },
	"bucket_id":       func(b *Bucket, v string) { b.ID = v },
	"bucket_key":      func(b *Bucket, v string) { b.Key = Secret(v) },
	"bucket_name":     func(b *Bucket, v string) { b.Name = v },
	"bucket_path":     func(b *Bucket, v string) { b.Path = strings.Trim(v, "/") },
	"bucket_region":   func(b *Bucket, v string) { b.Region = v },
}

// ParseBucket parses the key=value form. Unknown keys are errors naming the
// key, so a typo does not silently fall back to a default.
func ParseBucket(s string) (Bucket, error) {
	var b Bucket
	kv, err := ParseKV(s)
	if err != nil {
		return b, err
	}
	for k, v := range kv {
		set, ok := bucketKeys[k]
		if !ok {
			return b, fmt.Errorf("unknown key %q (want %s)", k, strings.Join(sortedKeys(bucketKeys), ", "))
		}
		set(&b, v)
	}
	if b.Name == "" {
		return b, fmt.Errorf("bucket_name is required")
	}
	return b, nil
}

// Decode implements envconfig.Decoder.
func (b *Bucket) Decode(v string) error {
	if strings.TrimSpace(v) == "" {
		*b = Bucket{}
		return nil
	}
	p, err := ParseBucket(v)
	if err != nil {
		return err
	}
	*b = p
	return nil
}

// IsZero reports whether no bucket was configured.
func (b Bucket) IsZero() bool { return b.Name == "" }

// String prints the bucket in its input form with the secret key redacted.
func (b Bucket) String() string {
	return fmt.Sprintf("bucket_endpoint=%s bucket_id=%s bucket_key=%s bucket_name=%s bucket_path=%s",
		b.Endpoint, b.ID, b.Key, b.Name, b.Path)
}

// Raw is the key=value form with the key in clear, for handing the
// setting to a child process. Never log it.
func (b Bucket) Raw() string {
	parts := []string{"bucket_endpoint=" + quoteKV(b.Endpoint), "bucket_id=" + quoteKV(b.ID),
		"bucket_key=" + quoteKV(b.Key.Value()), "bucket_name=" + quoteKV(b.Name), "bucket_path=" + quoteKV(b.Path)}
	if b.Region != "" {
		parts = append(parts, "bucket_region="+quoteKV(b.Region))
	}
	return strings.Join(parts, " ")
}

// quoteKV quotes a value for ParseKV when it is empty or holds spaces,
// quotes or backslashes.
func quoteKV(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r'\\") {
		return v
	}
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}

// GoString keeps %#v from printing the key through the struct fields.
func (b Bucket) GoString() string { return b.String() }

// Format makes every fmt verb use the redacted form.
func (b Bucket) Format(f fmt.State, _ rune) { fmt.Fprint(f, b.String()) }

// Join prefixes key parts with the bucket path.
func (b Bucket) Join(parts ...string) string {
	all := make([]string, 0, len(parts)+1)
	if b.Path != "" {
		all = append(all, b.Path)
	}
	for _, p := range parts {
		if p = strings.Trim(p, "/"); p != "" {
			all = append(all, p)
		}
	}
	return strings.Join(all, "/")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
