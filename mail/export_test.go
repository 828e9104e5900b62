package mail

// NewSMTPSenderTLS lets the tests trust their own certificate.
var NewSMTPSenderTLS = newSMTPSender
