package httpapi

import (
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// Messages of checkUsername.
const (
	msgUsernameInvisible = "username must not contain spaces, control or invisible characters"
	msgUsernameDots      = `username cannot be "." or ".."`
	msgUsernameScripts   = "username must not mix scripts that look alike, such as Latin with Cyrillic or Greek"
)

// checkUsername refuses usernames that are ambiguous or unreachable, beyond
// what the spec's pattern says (1 to 64 characters, no ASCII space or
// slash). Uniqueness is the database's: users_username_key compares names
// after NFKC and lowercasing, so "Jake", "ｊａｋｅ" and "jake" are one name.
//
//   - Control, format (zero-width, bidirectional overrides) and space
//     characters of any kind are refused: they make two names look alike.
//   - "." and ".." (also after NFKC) can never be a path segment of
//     /api/profiles/{username}.
//   - Mixed scripts, in the spirit of Unicode TR39's "moderately
//     restrictive" level: a name is one script, or Latin with one other
//     script that is not Cyrillic or Greek (whose letters look like Latin
//     ones: "аlice" with a Cyrillic а), or Latin with the combinations
//     Japanese, Chinese and Korean writing use. Common characters (digits,
//     punctuation) and combining marks belong to any script. So "José",
//     "Ünal", "Дмитрий", "山田" and "tanaka山田" pass; "аlice" does not.
//     Names that are confusable as a whole (an all-Cyrillic name that reads
//     like a Latin one) are not detected.
func checkUsername(name string) error {
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) || unicode.Is(unicode.Zs, r) ||
			unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) {
			return Invalid(msgUsernameInvisible)
		}
	}
	folded := norm.NFKC.String(name)
	if folded == "." || folded == ".." {
		return Invalid(msgUsernameDots)
	}
	if !scriptsAllowed(scriptsOf(folded)) {
		return Invalid(msgUsernameScripts)
	}
	return nil
}

// scriptsOf returns the scripts of s's characters, leaving out Common and
// Inherited (which go with any script).
func scriptsOf(s string) map[string]bool {
	out := map[string]bool{}
	for _, r := range s {
		if unicode.In(r, unicode.Common, unicode.Inherited) {
			continue
		}
		for name, table := range unicode.Scripts {
			if unicode.Is(table, r) {
				out[name] = true
				break
			}
		}
	}
	return out
}

// scriptsAllowed applies TR39's moderately restrictive rule to the scripts
// of one name.
func scriptsAllowed(scripts map[string]bool) bool {
	if len(scripts) <= 1 {
		return true
	}
	only := func(allowed ...string) bool {
		for s := range scripts {
			ok := false
			for _, a := range allowed {
				ok = ok || s == a
			}
			if !ok {
				return false
			}
		}
		return true
	}
	// Japanese, Chinese and Korean writing mix scripts by nature (with or
	// without Latin).
	if only("Latin", "Han", "Hiragana", "Katakana") || only("Latin", "Han", "Bopomofo") || only("Latin", "Han", "Hangul") {
		return true
	}
	// Otherwise: Latin and one other script, neither Cyrillic nor Greek.
	return len(scripts) == 2 && scripts["Latin"] && !scripts["Cyrillic"] && !scripts["Greek"]
}
