"""Outgoing e-mail: a small port (``Mailer``) and its SMTP implementation (``SmtpMailer``),
configured by core's ``smtp.*`` settings. Generic on purpose: invitations use it now, other
features (second factors by e-mail, alerts) later."""
