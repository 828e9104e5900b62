// Package mail sends authsvc's mail. Mails are queued in the database outbox
// (sealed, because reset mails carry a live token) and a background Worker
// delivers them through a Sender with retries, so a slow or absent SMTP server
// never slows a request down or loses a mail.
package mail

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"
)

// Message is one mail. Text is required; HTML, when set, is sent as an alternative.
type Message struct {
	To, Subject, Text, HTML string
}

// linkHTML is the HTML part of every mail with a link. It is parsed per call
// rather than kept in a package variable: it is cheap, and the package holds no state.
const linkHTML = `<!DOCTYPE html>
<html>
<body>
<p>{{.Why}}</p>
<p><a href="{{.Link}}">{{.Action}}</a></p>
<p>Or copy this link into your browser:<br>{{.Link}}</p>
<p>The link expires {{.Expiry}} after it was requested.</p>
<p>{{.IfNotYou}}</p>
</body>
</html>
`

// linkMail says why it was sent, what the link does, and what to do if the
// reader did not ask for it.
type linkMail struct {
	Subject, Why, Action, IfNotYou string
	Path                           string // of the link under the public URL
}

// message builds the mail for to. The link is publicURL/Path?token=<token>,
// with the token URL-escaped; the HTML part is produced by html/template, so
// nothing in it can inject markup.
func (l linkMail) message(to, publicURL, token string, ttl time.Duration) Message {
	link := strings.TrimRight(publicURL, "/") + l.Path + "?token=" + url.QueryEscape(token)
	expiry := humanDuration(ttl)
	text := fmt.Sprintf("%s\n\n%s:\n\n%s\n\nThe link expires %s after it was requested.\n\n%s\n",
		l.Why, l.Action, link, expiry, l.IfNotYou)

	// The template is a constant and the data are plain strings, so neither
	// Parse nor Execute can fail; a failure here is a programming error.
	tmpl := template.Must(template.New("link").Parse(linkHTML))
	var html strings.Builder
	data := struct{ Why, Action, Link, Expiry, IfNotYou string }{l.Why, l.Action, link, expiry, l.IfNotYou}
	if err := tmpl.Execute(&html, data); err != nil {
		panic("mail: link template: " + err.Error())
	}
	return Message{To: to, Subject: l.Subject, Text: text, HTML: html.String()}
}

// ResetMessage is the password-reset mail: a link to publicURL/reset-password.
func ResetMessage(to, publicURL, token string, ttl time.Duration) Message {
	return linkMail{
		Subject:  "Reset your password",
		Why:      "Someone asked to reset the password of your account.",
		Action:   "Open this link to choose a new password",
		IfNotYou: "If you did not ask for this, ignore this mail: your password stays as it is.",
		Path:     "/reset-password",
	}.message(to, publicURL, token, ttl)
}

// VerifyMessage asks the owner of a new account to confirm its address: a
// link to publicURL/verify-email.
func VerifyMessage(to, publicURL, token string, ttl time.Duration) Message {
	return linkMail{
		Subject:  "Confirm your email address",
		Why:      "This address was used to create an account.",
		Action:   "Open this link to confirm that it is yours",
		IfNotYou: "If you did not create an account, ignore this mail.",
		Path:     "/verify-email",
	}.message(to, publicURL, token, ttl)
}

// EmailChangeMessage asks for confirmation of an account's new address, sent
// to that address: the change happens only when the link is opened.
func EmailChangeMessage(to, publicURL, token string, ttl time.Duration) Message {
	return linkMail{
		Subject:  "Confirm your new email address",
		Why:      "Someone asked to use this address for their account.",
		Action:   "Open this link to confirm the change",
		IfNotYou: "If you did not ask for this, ignore this mail: nothing changes without the link.",
		Path:     "/verify-email",
	}.message(to, publicURL, token, ttl)
}

// EmailChangeNotice tells the current address that a change away from it was
// asked for. It holds no link and no token: it goes to the address the change
// may be taking the account from.
func EmailChangeNotice(to string) Message {
	return Message{To: to, Subject: "Your email address is about to change", Text: `Someone signed in to your account asked to change its email address.

The change happens only when the link sent to the new address is opened; until
then this address stays the account's, and you can still sign in with it.

If this was not you, reset or change your password at once: that cancels the
change and signs everyone out of the account.
`}
}

// Notice names a change to how an account signs in, told to its address by
// SecurityNotice.
type Notice string

const (
	NoticeTOTPEnabled         Notice = "totp_enabled"
	NoticeTOTPDisabled        Notice = "totp_disabled"
	NoticeRecoveryCodes       Notice = "recovery_codes_regenerated"
	NoticePasskeyAdded        Notice = "passkey_added"
	NoticePasskeyRemoved      Notice = "passkey_removed"
	NoticeIdentityLinked      Notice = "identity_linked"
	NoticeIdentityUnlinked    Notice = "identity_unlinked"
	NoticePasswordChanged     Notice = "password_changed"
	NoticePasswordReset       Notice = "password_reset"
	NoticeFactorsReset        Notice = "factors_reset"
	NoticeUnprovenFactorsGone Notice = "unproven_factors_removed"
)

// noticeText is n's subject and what happened, in a sentence.
func noticeText(n Notice) (subject, what string) {
	switch n {
	case NoticeTOTPEnabled:
		return "Two-step sign-in was turned on", "An authenticator app was set up for your account: signing in now also asks for its code."
	case NoticeTOTPDisabled:
		return "Two-step sign-in was turned off", "The authenticator app and the recovery codes of your account were removed: signing in no longer asks for a code."
	case NoticeRecoveryCodes:
		return "New recovery codes were made", "A new set of recovery codes was made for your account; the old codes no longer work."
	case NoticePasskeyAdded:
		return "A passkey was added", "A passkey was added to your account: it can now sign in without the password."
	case NoticePasskeyRemoved:
		return "A passkey was removed", "A passkey was removed from your account; the sessions it opened have ended."
	case NoticeIdentityLinked:
		return "An account elsewhere was linked", "An account at an external identity provider was linked to your account: it can now sign in through that provider."
	case NoticeIdentityUnlinked:
		return "A linked account was removed", "An account at an external identity provider was unlinked from your account; the sessions it opened have ended."
	case NoticePasswordChanged:
		return "Your password was changed", "The password of your account was changed, and every session was signed out."
	case NoticePasswordReset:
		return "Your password was reset", "The password of your account was reset with a link mailed to this address, and every session was signed out."
	case NoticeFactorsReset:
		return "Your sign-in methods were reset", "An administrator removed the authenticator app, recovery codes and passkeys of your account, and every session was signed out."
	case NoticeUnprovenFactorsGone:
		return "Sign-in methods added before you confirmed this address were removed", "Your password reset confirmed that this address is yours. Authenticator apps, recovery codes, passkeys and linked accounts that were added to the account before that were removed: whoever added them had not proved they own this mailbox."
	}
	return "Your account changed", "A sign-in setting of your account changed."
}

// SecurityNotice tells an account's address that n happened. It holds no link
// and no token: it only lets the owner notice a change they did not make.
func SecurityNotice(to string, n Notice) Message {
	subject, what := noticeText(n)
	return Message{To: to, Subject: subject, Text: what + `

If this was you, there is nothing to do.

If it was not, reset your password at once (use "Forgot password" on the sign-in
page): that signs everyone out of the account.
`}
}

// humanDuration writes d for people: "1 hour", "90 minutes", "2 days".
func humanDuration(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return plural(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return plural(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int64(d.Round(time.Minute)/time.Minute), "minute")
	}
	return plural(int64(max(d.Round(time.Second), time.Second)/time.Second), "second")
}
