package httpapi

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSlugify(t *testing.T) {
	for title, want := range map[string]string{
		"How to train your dragon":   "how-to-train-your-dragon",
		"Héllo, Wörld!":              "héllo-wörld",
		"He\u0301llo":                "héllo", // decomposed é, normalised to NFC
		"  --Leading and trailing--": "leading-and-trailing",
		"Go 1.26: what's new?":       "go-1-26-what-s-new",
		"日本語のタイトル":                   "日本語のタイトル",
		"Привет мир":                 "привет-мир",
		"हिन्दी लेख":                 "हिन्दी-लेख", // combining vowel signs are kept
		"!!!":                        "article",
		"":                           "article",
		"\u0301":                     "article", // a lone combining mark is not a slug
		"a_b\tc\nd":                  "a-b-c-d",
	} {
		if got := slugify(title); got != want {
			t.Errorf("slugify(%q) = %q, want %q", title, got, want)
		}
	}
}

func TestSlugifyBoundsLength(t *testing.T) {
	long := strings.Repeat("wörd ", 60) // 300 runes
	got := slugify(long)
	if n := utf8.RuneCountInString(got); n > maxSlugBase {
		t.Fatalf("slug has %d runes, want at most %d", n, maxSlugBase)
	}
	if strings.HasSuffix(got, "-") || strings.HasPrefix(got, "-") {
		t.Fatalf("slug %q has a hyphen at an end", got)
	}
	if !strings.HasPrefix(got, "wörd-wörd-") {
		t.Fatalf("slug %q does not start with the title", got)
	}
}

func TestSlugCandidate(t *testing.T) {
	if got := slugCandidate("hello", 0); got != "hello" {
		t.Errorf("first candidate = %q, want the base", got)
	}
	a, b := slugCandidate("hello", 1), slugCandidate("hello", 1)
	if !strings.HasPrefix(a, "hello-") || len(a) != len("hello-")+6 || a == b {
		t.Errorf("suffixed candidates %q, %q: want hello-<6 random chars>, distinct", a, b)
	}
	if got := slugCandidate("feed", 0); got == "feed" || !strings.HasPrefix(got, "feed-") {
		t.Errorf("candidate for reserved slug feed = %q, want a suffix", got)
	}
}
