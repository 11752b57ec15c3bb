//! Outgoing mail behind one trait: SMTP through lettre in production, the
//! log for local runs without an SMTP server.
//!
//! Use cases send plain-text mail (reset links, sign-in and deletion
//! codes) from a background task, after they have answered, so a slow or
//! failing SMTP server never delays or fails a request. Delivery failures
//! are logged there, and not retried.
//!
//! Any [`Mailer`] will do; tests can keep mail in memory:
//!
//! ```
//! use std::sync::Mutex;
//!
//! use async_trait::async_trait;
//! use heyclaw_app::mail::{Mail, MailError, Mailer};
//!
//! #[derive(Default)]
//! struct Outbox(Mutex<Vec<Mail>>);
//!
//! #[async_trait]
//! impl Mailer for Outbox {
//!     async fn send(&self, mail: Mail) -> Result<(), MailError> {
//!         if !mail.to.contains('@') {
//!             return Err(MailError::Address(mail.to));
//!         }
//!         self.0.lock().map_err(|_| MailError::Delivery("poisoned".into()))?.push(mail);
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), MailError> {
//! let outbox = Outbox::default();
//! let mail = Mail {
//!     to: "ada@example.com".into(),
//!     subject: "Your HeyClaw code: 123456".into(),
//!     body: "Your HeyClaw sign-in code is 123456.".into(),
//! };
//! outbox.send(mail).await?;
//! assert_eq!(outbox.0.lock().map_err(|_| MailError::Delivery("poisoned".into()))?.len(), 1);
//! # Ok(())
//! # }
//! ```

use async_trait::async_trait;
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use secrecy::{ExposeSecret, SecretString};

/// One plain-text mail.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The recipient's address.
    pub to: String,
    /// The subject line.
    pub subject: String,
    /// The body, plain text.
    pub body: String,
}

/// Why a mail could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The sender (from settings) or the recipient is not a valid mailbox.
    #[error("invalid address: {0}")]
    Address(String),
    /// The message or the SMTP transport could not be built (e.g. TLS
    /// setup for the relay failed).
    #[error("building the message: {0}")]
    Build(String),
    /// The SMTP server could not be reached, timed out or refused the mail.
    #[error("SMTP delivery failed: {0}")]
    Delivery(String),
}

/// Sends mail. Implementations must be cheap to share (`Arc<dyn Mailer>`).
#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends `mail`, returning once it is handed over (to the SMTP server,
    /// the log, …).
    ///
    /// # Errors
    ///
    /// A [`MailError`] saying what failed; nothing is retried.
    async fn send(&self, mail: Mail) -> Result<(), MailError>;
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// No TLS: local relays and test stand-ins only.
    Plain,
    /// Plain connection upgraded with `STARTTLS` (usually port 587); TLS is
    /// required.
    StartTls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Implicit,
}

/// Where and how [`SmtpMailer`] sends.
pub struct SmtpConfig {
    /// The relay's host name (also the name its TLS certificate must carry).
    pub host: String,
    /// The relay's port.
    pub port: u16,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// Login name; credentials are used only when both it and
    /// [`SmtpConfig::password`] are set.
    pub username: Option<String>,
    /// Login password.
    pub password: Option<SecretString>,
    /// The sender, `Name <address>` or a bare address.
    pub from: String,
}

/// Sends mail through an SMTP relay (lettre; a 20 s network timeout).
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl SmtpMailer {
    /// A mailer for `config`. Nothing is connected yet: a wrong host or
    /// password shows only when the first mail is sent.
    ///
    /// # Errors
    ///
    /// [`MailError::Address`] when `from` is not a valid mailbox;
    /// [`MailError::Build`] when the TLS transport cannot be set up.
    pub fn new(config: SmtpConfig) -> Result<Self, MailError> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|err| MailError::Address(format!("{}: {err}", config.from)))?;
        let builder = match config.security {
            SmtpSecurity::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host)
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                    .map_err(|err| MailError::Build(err.to_string()))?
            }
            SmtpSecurity::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .map_err(|err| MailError::Build(err.to_string()))?,
        };
        let mut builder = builder
            .port(config.port)
            .timeout(Some(std::time::Duration::from_secs(20)));
        if let (Some(user), Some(password)) = (config.username, config.password) {
            builder =
                builder.credentials(Credentials::new(user, password.expose_secret().to_owned()));
        }
        Ok(Self {
            transport: builder.build(),
            from,
        })
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|err| MailError::Address(format!("recipient: {err}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject)
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body)
            .map_err(|err| MailError::Build(err.to_string()))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|err| MailError::Delivery(err.to_string()))
    }
}

/// For runs without SMTP: the mail is not sent but logged (`info`).
/// Subjects and bodies carry sign-in codes and reset links — credentials —
/// so they are logged only with `content` on (a local run, where a
/// developer needs the code); otherwise only the recipient is. Sending
/// never fails.
pub struct LogMailer {
    /// Whether the subject and body go to the log too.
    pub content: bool,
}

#[async_trait]
impl Mailer for LogMailer {
    async fn send(&self, mail: Mail) -> Result<(), MailError> {
        if self.content {
            tracing::info!(
                to = %mail.to,
                subject = %mail.subject,
                body = %mail.body,
                "mail not sent (no SMTP_HOST configured); logged instead"
            );
        } else {
            tracing::warn!(
                to = %mail.to,
                "mail not sent: no SMTP_HOST configured (its content is not logged: it may hold a code)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// What `mailer` logs while sending one mail with a code in it.
    async fn logged_by(mailer: LogMailer) -> String {
        #[derive(Clone, Default)]
        struct Captured(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Captured {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let mail = Mail {
            to: "ada@example.com".into(),
            subject: "Your HeyClaw code: 271828".into(),
            body: "Your code is 271828.".into(),
        };
        mailer.send(mail).await.unwrap();
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test]
    async fn the_log_mailer_keeps_codes_out_of_the_log_unless_asked() {
        let quiet = logged_by(LogMailer { content: false }).await;
        assert!(quiet.contains("ada@example.com"), "{quiet}");
        assert!(!quiet.contains("271828"), "{quiet}");
        let local = logged_by(LogMailer { content: true }).await;
        assert!(local.contains("271828"), "{local}");
    }
}
