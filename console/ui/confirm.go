package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
)

// confirmDanger asks before a step that cannot be taken back (releasing a
// quarantined file, revoking a PC, disabling an account). Cancel is the
// default: it is the highlighted button and holds the keyboard focus, so
// Return, Space and Escape all cancel; the step itself is a red button that
// says what it does and to what ("Release invoice.exe to pc-12"). title and
// message name the PC and the file; the caller passes them through shown.
func confirmDanger(win fyne.Window, title, message, act string, onConfirm func()) *dialog.CustomDialog {
	body := widget.NewLabel(message)
	body.Wrapping = fyne.TextWrapWord
	d := dialog.NewCustomWithoutButtons(title, body, win)
	cancel := newDefaultButton("Cancel", d.Hide)
	do := widget.NewButtonWithIcon(act, theme.WarningIcon(), func() {
		d.Hide()
		onConfirm()
	})
	do.Importance = widget.DangerImportance
	d.SetButtons([]fyne.CanvasObject{cancel, do})
	d.Resize(fyne.NewSize(520, 0).Max(d.MinSize()))
	d.Show()
	win.Canvas().Focus(cancel)
	return d
}

// defaultButton is a highlighted button that Return and Escape press too,
// besides Space (a plain Fyne button answers Space only).
type defaultButton struct {
	widget.Button
}

func newDefaultButton(label string, tapped func()) *defaultButton {
	b := &defaultButton{}
	b.Text, b.OnTapped = label, tapped
	b.Icon = theme.CancelIcon()
	b.Importance = widget.HighImportance
	b.ExtendBaseWidget(b)
	return b
}

func (b *defaultButton) TypedKey(ev *fyne.KeyEvent) {
	switch ev.Name {
	case fyne.KeyReturn, fyne.KeyEnter, fyne.KeyEscape:
		b.Tapped(nil)
		return
	}
	b.Button.TypedKey(ev)
}
