package router

import (
	"regexp"
	"strings"
	"testing"
)

var (
	nftChainRE   = regexp.MustCompile(`^\s*chain (\S+) \{$`)
	nftCommentRE = regexp.MustCompile(` comment "[^"]*"`)
)

// generationText extracts the generation chains from nft's listing, in the ruleset's text
// notation.
func generationText(list string) string {
	var b strings.Builder
	in := false
	for _, line := range strings.Split(list, "\n") {
		if m := nftChainRE.FindStringSubmatch(line); m != nil {
			_, base := findBase(m[1])
			in = !base
			if in {
				b.WriteString("chain " + m[1] + "\n")
			}
			continue
		}
		line = strings.TrimSpace(line)
		if !in || line == "" || line == "}" {
			continue
		}
		b.WriteString("\t" + nftCommentRE.ReplaceAllString(line, "") + "\n")
	}
	return b.String()
}

// TestKernelTableMatchesRuleset checks that what the kernel holds, read back by nft, is the
// ruleset's text line for line: the expressions the package sends say what its text (and
// so the golden tests) say.
func TestKernelTableMatchesRuleset(t *testing.T) {
	l := newLab(t)
	s := richSpec("net-rich")
	l.apply(s)
	l.failDump(s.ID)
	list := l.nftList(s.ID)
	slot := "a"
	if strings.Contains(list, "chain pre-b {") {
		slot = "b"
	}
	want := buildRuleset(&s, slot).text()
	if got := generationText(list); got != want {
		t.Fatalf("nft reads the table back as\n%s\nwant\n%s", got, want)
	}
}
