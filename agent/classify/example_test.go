package classify_test

import (
	"bytes"
	"fmt"

	"github.com/carrel-kiosk/carrel/agent/classify"
)

func ExampleClassifier_Reader() {
	cl := classify.New(classify.DefaultConfig())
	program := []byte("MZ\x90\x00") // a DOS/Windows program header
	r, err := cl.Reader("invoice.pdf", bytes.NewReader(program), int64(len(program)), 0o644)
	fmt.Println(r.Verdict, r.Reason, r.Kind, err)
	// Output: block DOS or Windows program (MZ) mz <nil>
}

func ExampleClassifier_Name() {
	cl := classify.New(classify.DefaultConfig())
	for _, name := range []string{"setup.exe.crdownload", "photo.\u0435x\u0435", "Şəhər_xəritəsi.pdf.part"} {
		r, final := cl.Name(name)
		fmt.Println(final, r.Verdict, r.Reason)
	}
	// Output:
	// true block dangerous extension .exe (Windows program)
	// true block disguised extension in photo.еxе (U+0435 U+0435) reads as .exe (Windows program)
	// false allow name gives no reason to block; content not judged
}
