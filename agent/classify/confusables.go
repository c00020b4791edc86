package classify

// confusables maps lower-case letters that look like Latin letters (after
// case folding and NFKC, which already handle full-width and mathematical
// forms) to the Latin letter they imitate. It is drawn from Unicode's
// confusables.txt for the scripts a file-name trick realistically uses:
// Cyrillic, Greek, Armenian and Latin extensions. It only feeds the
// extension skeleton, so a false match can only make a name look more
// dangerous, never less.
var confusables = map[rune]rune{
	// Cyrillic.
	'а': 'a', 'в': 'b', 'ь': 'b', 'с': 'c', 'ԁ': 'd', 'е': 'e', 'ё': 'e', 'є': 'e', 'ҽ': 'e',
	'һ': 'h', 'н': 'h', 'і': 'i', 'ї': 'i', 'ӏ': 'l', 'ј': 'j', 'к': 'k', 'м': 'm', 'п': 'n',
	'о': 'o', 'ө': 'o', 'р': 'p', 'ԛ': 'q', 'г': 'r', 'ѕ': 's', 'т': 't', 'ц': 'u', 'ѵ': 'v',
	'ԝ': 'w', 'ш': 'w', 'х': 'x', 'ҳ': 'x', 'у': 'y', 'ү': 'y',
	// Greek.
	'α': 'a', 'β': 'b', 'ϲ': 'c', 'δ': 'd', 'ε': 'e', 'ϵ': 'e', 'η': 'n', 'ι': 'i', 'ϳ': 'j',
	'κ': 'k', 'ν': 'v', 'ο': 'o', 'ρ': 'p', 'ϱ': 'p', 'τ': 't', 'υ': 'u', 'χ': 'x', 'γ': 'y',
	'ζ': 'z', 'μ': 'u', 'ω': 'w',
	// Armenian.
	'ա': 'w', 'ց': 'g', 'հ': 'h', 'ո': 'n', 'օ': 'o', 'ս': 'u', 'զ': 'q', 'ք': 'p',
	// Latin look-alikes outside ASCII.
	'ı': 'i', 'ȷ': 'j', 'ɡ': 'g', 'ɑ': 'a', 'ɩ': 'i', 'ʟ': 'l', 'ᴄ': 'c', 'ᴅ': 'd', 'ᴇ': 'e',
	'ɪ': 'i', 'ᴋ': 'k', 'ᴍ': 'm', 'ɴ': 'n', 'ᴏ': 'o', 'ᴘ': 'p', 'ʀ': 'r', 'ꜱ': 's', 'ᴛ': 't',
	'ᴜ': 'u', 'ᴠ': 'v', 'ᴡ': 'w', 'ʏ': 'y', 'ᴢ': 'z', 'ƅ': 'b', 'ɾ': 'r', 'ʃ': 'f',
}
