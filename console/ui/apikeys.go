package ui

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/carrel-kiosk/carrel/internal/protocol"
)

// apiView is the admin's screen for the read-only API (internal/api): its
// keys (made here, the secret shown once in a dialog with a Copy button,
// revoked after a confirmation) and its webhook targets (https only, with
// their delivered and dead-lettered counts, deleted after a confirmation).
// Only admins get the tab; the hub refuses the ops to anyone else, and the
// refusal is shown as it comes.
type apiView struct {
	u *UI

	keys     []protocol.APIKeyView
	keyList  *widget.List
	name     *widget.Entry
	branch   *widget.Entry
	create   *widget.Button
	keyState *widget.Label

	hooks      []protocol.WebhookView
	hookList   *widget.List
	hookURL    *widget.Entry
	hookBranch *widget.Entry
	hookSecret *widget.Entry
	add        *widget.Button
	hookState  *widget.Label

	content fyne.CanvasObject
}

func newAPIView(u *UI) *apiView {
	v := &apiView{u: u, name: widget.NewEntry(), branch: widget.NewEntry(), keyState: plain(""),
		hookURL: widget.NewEntry(), hookBranch: widget.NewEntry(), hookSecret: widget.NewPasswordEntry(), hookState: plain("")}
	v.name.SetPlaceHolder("what the key is for, e.g. entrance screen")
	v.branch.SetPlaceHolder("empty: all branches")
	v.hookURL.SetPlaceHolder("https://…")
	v.hookBranch.SetPlaceHolder("empty: all branches")
	v.hookSecret.SetPlaceHolder("empty: the console makes one")
	v.create = widget.NewButton("Create key", v.createKey)
	// Return in the name or branch creates the key.
	v.name.OnSubmitted = func(string) { v.createKey() }
	v.branch.OnSubmitted = func(string) { v.createKey() }
	v.create.Importance = widget.HighImportance
	v.add = widget.NewButton("Add webhook", v.addHook)
	v.add.Importance = widget.HighImportance

	v.keyList = widget.NewList(func() int { return len(v.keys) },
		func() fyne.CanvasObject {
			b := widget.NewButton("Revoke…", nil)
			b.Importance = widget.DangerImportance
			return container.NewBorder(nil, nil, nil, b, listLine())
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			k := v.keys[i]
			c := o.(*fyne.Container)
			c.Objects[0].(*widget.Label).SetText(keyLine(k, u))
			b := c.Objects[1].(*widget.Button)
			if k.RevokedAt.IsZero() {
				b.Enable()
			} else {
				b.Disable()
			}
			b.OnTapped = func() { v.confirmRevoke(k) }
		})
	v.hookList = widget.NewList(func() int { return len(v.hooks) },
		func() fyne.CanvasObject {
			b := widget.NewButton("Delete…", nil)
			b.Importance = widget.DangerImportance
			return container.NewBorder(nil, nil, nil, b, listLine())
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			h := v.hooks[i]
			c := o.(*fyne.Container)
			c.Objects[0].(*widget.Label).SetText(hookLine(h))
			b := c.Objects[1].(*widget.Button)
			b.OnTapped = func() { v.confirmDelete(h) }
		})

	bold := func(s string) *widget.Label {
		return widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	}
	keyForm := container.NewVBox(bold("New API key"),
		plain("A key reads PCs, states, branches and counts (never a patron) over the hub's HTTPS API, /api/v1. Scope it to one branch, or leave the branch empty for all."),
		widget.NewForm(widget.NewFormItem("Name", v.name), widget.NewFormItem("Branch", v.branch)), v.create, v.keyState)
	hookForm := container.NewVBox(bold("New webhook"),
		plain("The hub POSTs each state change and session start/end to the URL, signed with the secret (HMAC-SHA256)."),
		widget.NewForm(widget.NewFormItem("URL", v.hookURL), widget.NewFormItem("Branch", v.hookBranch), widget.NewFormItem("Secret", v.hookSecret)),
		v.add, v.hookState)
	refresh := widget.NewButton("Refresh", v.load)
	keys := container.NewHSplit(keyForm, container.NewBorder(container.NewHBox(bold("API keys"), refresh), nil, nil, nil, v.keyList))
	keys.Offset = 0.4
	hooks := container.NewHSplit(hookForm, container.NewBorder(
		container.NewVBox(bold("Webhooks"), plain("Counts are written by the hub once a minute.")), nil, nil, nil, v.hookList))
	hooks.Offset = 0.4
	split := container.NewVSplit(keys, hooks)
	split.Offset = 0.5
	v.content = split
	v.load()
	return v
}

// keyLine is one key as the list shows it.
func keyLine(k protocol.APIKeyView, u *UI) string {
	scope := "all branches"
	if k.Branch != "" {
		scope = "branch " + shown(k.Branch)
	}
	state := "live"
	if !k.RevokedAt.IsZero() {
		state = "revoked " + timeText(k.RevokedAt, u.opts.Now())
	}
	used := "never used"
	if !k.LastUsed.IsZero() {
		used = "last used " + timeText(k.LastUsed, u.opts.Now())
	}
	return fmt.Sprintf("%s — %s — created %s by %s — %s — %s", shown(k.Name), scope,
		timeText(k.CreatedAt, u.opts.Now()), shown(k.CreatedBy), state, used)
}

// hookLine is one webhook target as the list shows it.
func hookLine(h protocol.WebhookView) string {
	scope := "all branches"
	if h.Branch != "" {
		scope = "branch " + shown(h.Branch)
	}
	s := fmt.Sprintf("%s — %s — %d delivered, %d dead-lettered", shown(h.URL), scope, h.Delivered, h.Dead)
	if h.LastError != "" {
		s += " — last failure: " + shown(h.LastError)
	}
	return s
}

func (v *apiView) load() {
	v.u.async(func(ctx context.Context) func() {
		keys, kerr := v.u.client.APIKeys(ctx)
		hooks, herr := v.u.client.Webhooks(ctx)
		return func() {
			if kerr != nil {
				v.keyState.SetText("Could not list the API keys: " + errText(kerr))
			} else {
				v.keys = keys
				v.keyList.Refresh()
			}
			if herr != nil {
				v.hookState.SetText("Could not list the webhooks: " + errText(herr))
			} else {
				v.hooks = hooks
				v.hookList.Refresh()
			}
			if kerr == nil && herr == nil {
				v.u.state(fmt.Sprintf("apikeys:%d", len(keys)))
			}
		}
	})
}

// focus puts the keyboard in the key's name, as the tab opens.
func (v *apiView) focus() { v.u.win.Canvas().Focus(v.name) }

func (v *apiView) createKey() {
	args := protocol.APIKeyArgs{Name: strings.TrimSpace(v.name.Text), Branch: strings.TrimSpace(v.branch.Text)}
	switch {
	case args.Name == "":
		v.keyState.SetText("Enter a name for the key: what or who will use it.")
		return
	case protocol.Printable(args.Name) != args.Name || len(args.Name) > 100:
		v.keyState.SetText("The name must be 1 to 100 printable characters.")
		return
	}
	if err := protocol.ValidBranch(args.Branch); err != nil {
		v.keyState.SetText("Not a branch name: " + errText(err))
		return
	}
	v.create.Disable()
	v.u.async(func(ctx context.Context) func() {
		res, err := v.u.client.APIKeyCreate(ctx, args)
		return func() {
			v.create.Enable()
			if err != nil {
				v.keyState.SetText("Could not create the key: " + errText(err))
				return
			}
			v.name.SetText("")
			v.branch.SetText("")
			v.keyState.SetText("Created " + shown(res.Name) + ".")
			v.u.admin.pokeAudit()
			v.showSecret("API key "+shown(res.Name), "The key, for the Authorization header: Bearer KEY.", res.Key)
			v.u.state("apikey:created")
			v.load()
		}
	})
}

// showSecret shows a secret this once, with a Copy button (focused, so Space
// copies; then Return closes) and a plain warning.
func (v *apiView) showSecret(title, what, secret string) {
	text := widget.NewLabel(shown(secret))
	text.Selectable = true
	text.Wrapping = fyne.TextWrapBreak
	text.TextStyle = fyne.TextStyle{Monospace: true}
	copied := widget.NewLabel("")
	var d *dialog.CustomDialog
	done := newDefaultButton("Done", func() { d.Hide() })
	done.Icon = theme.ConfirmIcon()
	copyButton := widget.NewButtonWithIcon("Copy", theme.ContentCopyIcon(), func() {
		v.u.app.Clipboard().SetContent(secret)
		copied.SetText("Copied.")
		v.u.state("secret:copied")
		v.u.win.Canvas().Focus(done)
	})
	warn := widget.NewLabelWithStyle("Copy it now: it is shown only this once. The hub keeps only a hash of it; if it is lost, revoke it and make another.",
		fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	warn.Wrapping = fyne.TextWrapWord
	body := container.NewVBox(warn, plain(what), text, container.NewHBox(copyButton, copied))
	d = dialog.NewCustomWithoutButtons(title, body, v.u.win)
	d.SetButtons([]fyne.CanvasObject{done})
	d.Resize(fyne.NewSize(600, 0).Max(d.MinSize()))
	d.Show()
	v.u.win.Canvas().Focus(copyButton)
}

func (v *apiView) confirmRevoke(k protocol.APIKeyView) {
	name := shown(k.Name)
	confirmDanger(v.u.win, "Revoke the key "+name+"?", "Whatever uses "+name+" is refused from now on (its live feeds close within seconds). This cannot be undone.",
		"Revoke "+name, func() {
			v.u.async(func(ctx context.Context) func() {
				_, err := v.u.client.APIKeyRevoke(ctx, k.ID)
				return func() {
					if err != nil {
						v.keyState.SetText("Could not revoke: " + errText(err))
						return
					}
					v.keyState.SetText("Revoked " + name + ".")
					v.u.state("apikey:revoked")
					v.u.admin.pokeAudit()
					v.load()
				}
			})
		})
}

// checkHookURL says what is wrong with a webhook target typed, or "".
func checkHookURL(raw string) string {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return "Enter the URL the hub should post to."
	case err != nil || u.Scheme != "https":
		return "The URL must start with https:// (events are posted over TLS)."
	case u.Host == "":
		return "The URL has no host."
	case u.User != nil:
		return "The URL must not carry a user or password: the secret signs the requests."
	case len(raw) > 2000:
		return "The URL is longer than 2000 characters."
	}
	return ""
}

func (v *apiView) addHook() {
	args := protocol.WebhookArgs{URL: strings.TrimSpace(v.hookURL.Text), Branch: strings.TrimSpace(v.hookBranch.Text), Secret: v.hookSecret.Text}
	if msg := checkHookURL(args.URL); msg != "" {
		v.hookState.SetText(msg)
		return
	}
	if err := protocol.ValidBranch(args.Branch); err != nil {
		v.hookState.SetText("Not a branch name: " + errText(err))
		return
	}
	made := args.Secret == ""
	if made {
		b := make([]byte, 32)
		rand.Read(b)
		args.Secret = hex.EncodeToString(b)
	} else if len(args.Secret) < 16 {
		v.hookState.SetText("The secret must be at least 16 characters (or leave it empty and the console makes one).")
		return
	}
	v.add.Disable()
	v.u.async(func(ctx context.Context) func() {
		w, err := v.u.client.WebhookCreate(ctx, args)
		return func() {
			v.add.Enable()
			if err != nil {
				v.hookState.SetText("Could not add the webhook: " + errText(err))
				return
			}
			v.hookURL.SetText("")
			v.hookBranch.SetText("")
			v.hookSecret.SetText("")
			v.hookState.SetText("Added " + shown(w.URL) + ".")
			v.u.admin.pokeAudit()
			if made {
				v.showSecret("Webhook signing secret", "The receiver checks the Carrel-Signature header with it (README, Webhooks).", args.Secret)
			}
			v.load()
		}
	})
}

func (v *apiView) confirmDelete(h protocol.WebhookView) {
	target := shown(h.URL)
	confirmDanger(v.u.win, "Delete the webhook?", "The hub stops posting events to "+target+". This cannot be undone.",
		"Delete webhook", func() {
			v.u.async(func(ctx context.Context) func() {
				err := v.u.client.WebhookDelete(ctx, h.ID)
				return func() {
					if err != nil {
						v.hookState.SetText("Could not delete: " + errText(err))
						return
					}
					v.hookState.SetText("Deleted the webhook to " + target + ".")
					v.u.admin.pokeAudit()
					v.load()
				}
			})
		})
}
