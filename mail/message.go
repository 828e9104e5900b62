// Package mail sends authsvc's mail. Mails are queued in the database outbox
// (sealed, because reset mails carry a live token) and a background Worker
// delivers them through a Sender with retries, so a slow or absent SMTP server
// never slows a request down or loses a mail.
package mail

import (
	"fmt"
	"time"
)

// Message is one mail, built by Templates. Text is required; HTML, when set, is sent as an alternative.
type Message struct {
	To, Subject, Text, HTML string
}

// ResetMessage is the password-reset mail built from the embedded templates,
// panicking should they fail.
//
// Deprecated: use Templates.Reset, which honours MAIL_TEMPLATES_DIR and returns
// errors. This remains for the package's older tests.
func ResetMessage(to, publicURL, token string, ttl time.Duration) Message {
	m, err := DefaultTemplates().Reset(to, publicURL, token, ttl)
	if err != nil {
		panic("mail: " + err.Error())
	}
	return m
}

// Notice names a change to how an account signs in, told to its address by
// Templates.SecurityNotice; each has its own mail, notice_<kind>.
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
