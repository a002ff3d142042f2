package httpapi

import (
	"crypto/rand"
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// maxSlugBase bounds the part of a slug made from the title, in runes, so
// that URLs stay readable; a collision suffix may follow it.
const maxSlugBase = 100

// fallbackSlug is the slug of a title without a single letter or digit.
const fallbackSlug = "article"

// reservedSlugs would collide with a fixed route under /api/articles/.
var reservedSlugs = map[string]bool{"feed": true}

// slugify makes the URL part of an article from its title: NFC-normalised,
// lowercase, unicode letters and digits (with their combining marks) kept,
// every other run of characters one hyphen, no hyphen at either end, at most
// maxSlugBase runes, never empty. NFC first makes "é" typed as "e" plus a
// combining accent the same slug as a precomposed "é".
func slugify(title string) string {
	var b strings.Builder
	n := 0
	pendingHyphen := false
	for _, r := range norm.NFC.String(strings.ToLower(title)) {
		keep := unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) && n > 0 && !pendingHyphen
		if !keep {
			pendingHyphen = n > 0
			continue
		}
		if pendingHyphen {
			if n+2 > maxSlugBase {
				break
			}
			b.WriteByte('-')
			n++
			pendingHyphen = false
		}
		if n+1 > maxSlugBase {
			break
		}
		b.WriteRune(r)
		n++
	}
	if b.Len() == 0 {
		return fallbackSlug
	}
	return b.String()
}

// slugCandidate is the slug to try on the given attempt at storing an
// article: the base itself first (unless reserved), then the base with a
// short random suffix, which makes equal titles distinct.
func slugCandidate(base string, attempt int) string {
	if attempt == 0 && !reservedSlugs[base] {
		return base
	}
	return base + "-" + strings.ToLower(rand.Text()[:6])
}
