package config

import (
	"fmt"
	"net/url"
)

const redacted = "****"

// Secret is a string that never prints itself: String, GoString and every
// fmt verb give "****", so a config struct can be logged whole.
type Secret string

// Value returns the secret itself, for the one call that needs it.
func (s Secret) Value() string { return string(s) }

func (s Secret) String() string   { return redactedUnlessEmpty(string(s)) }
func (s Secret) GoString() string { return s.String() }

// Format covers %v, %s, %q, %x and the rest: none of them leak.
func (s Secret) Format(f fmt.State, _ rune) { fmt.Fprint(f, s.String()) }

// MarshalText keeps secrets out of JSON logs too.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func redactedUnlessEmpty(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// SecretURL is a URL whose password is redacted when printed, such as
// NATS=nats://user:pw@host:4222. Value returns it whole.
type SecretURL struct{ raw string }

// Decode implements envconfig.Decoder.
func (u *SecretURL) Decode(v string) error {
	if v != "" {
		if _, err := url.Parse(v); err != nil {
			return fmt.Errorf("not a URL: %s", redactURLText(v))
		}
	}
	u.raw = v
	return nil
}

// ParseSecretURL is Decode for callers outside envconfig.
func ParseSecretURL(v string) (SecretURL, error) {
	var u SecretURL
	err := u.Decode(v)
	return u, err
}

func (u SecretURL) Value() string    { return u.raw }
func (u SecretURL) IsZero() bool     { return u.raw == "" }
func (u SecretURL) String() string   { return redactURLText(u.raw) }
func (u SecretURL) GoString() string { return u.String() }
func (u SecretURL) Format(f fmt.State, _ rune) {
	fmt.Fprint(f, u.String())
}
func (u SecretURL) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// redactURLText hides the password of every URL in a comma-separated list
// (NATS takes several servers). Unparseable text is hidden whole.
func redactURLText(s string) string {
	if s == "" {
		return ""
	}
	out := ""
	for i, part := range splitComma(s) {
		if i > 0 {
			out += ","
		}
		p, err := url.Parse(part)
		if err != nil {
			out += redacted
			continue
		}
		if p.User != nil {
			if _, has := p.User.Password(); has {
				p.User = url.UserPassword(p.User.Username(), "xxxxx")
			}
		}
		out += p.Redacted()
	}
	return out
}

func splitComma(s string) []string {
	var parts []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			parts = append(parts, s[start:i])
			start = i + 1
		}
	}
	return append(parts, s[start:])
}
