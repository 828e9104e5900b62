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

// resetHTML is parsed per call rather than kept in a package variable: it is
// cheap, and the package holds no state.
const resetHTML = `<!DOCTYPE html>
<html>
<body>
<p>Someone asked to reset the password of your account.</p>
<p><a href="{{.Link}}">Choose a new password</a></p>
<p>Or copy this link into your browser:<br>{{.Link}}</p>
<p>The link expires {{.Expiry}} after it was requested.</p>
<p>If you did not ask for this, ignore this mail: your password stays as it is.</p>
</body>
</html>
`

// ResetMessage is the password-reset mail for to. The link is
// publicURL/reset-password?token=<token>, with the token URL-escaped; the HTML
// part is produced by html/template, so nothing in it can inject markup.
func ResetMessage(to, publicURL, token string, ttl time.Duration) Message {
	link := strings.TrimRight(publicURL, "/") + "/reset-password?token=" + url.QueryEscape(token)
	expiry := humanDuration(ttl)
	text := fmt.Sprintf(`Someone asked to reset the password of your account.

Open this link to choose a new password:

%s

The link expires %s after it was requested.

If you did not ask for this, ignore this mail: your password stays as it is.
`, link, expiry)

	// The template is a constant and the data are plain strings, so neither
	// Parse nor Execute can fail; a failure here is a programming error.
	tmpl := template.Must(template.New("reset").Parse(resetHTML))
	var html strings.Builder
	if err := tmpl.Execute(&html, struct{ Link, Expiry string }{link, expiry}); err != nil {
		panic("mail: reset template: " + err.Error())
	}
	return Message{To: to, Subject: "Reset your password", Text: text, HTML: html.String()}
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
