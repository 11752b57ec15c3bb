//! A local SMTP stand-in: speaks enough real SMTP (EHLO, MAIL, RCPT, DATA,
//! QUIT) for lettre to deliver to it, and keeps every message it receives.
//! No TLS and no authentication: point the server at it with
//! [`SmtpStandIn::settings`].

use std::{sync::Arc, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
    sync::{Mutex, Notify},
};

/// One message the SMTP stand-in received.
#[derive(Debug, Clone)]
pub struct CapturedMail {
    /// The envelope sender, as given to `MAIL FROM:` (with its angle
    /// brackets and any parameters, e.g. `<no-reply@heyclaw.test>`).
    pub from: String,
    /// The envelope recipients, as given to each `RCPT TO:` (with angle
    /// brackets).
    pub to: Vec<String>,
    /// The raw message as sent after DATA (headers and encoded body).
    pub raw: String,
}

impl CapturedMail {
    /// The body with its transfer encoding (quoted-printable or base64)
    /// undone, judged from the message's headers as a whole: meant for the
    /// server's single-part mails. Undecodable base64 gives an empty body;
    /// invalid UTF-8 is replaced.
    pub fn body(&self) -> String {
        let (headers, body) = self.raw.split_once("\r\n\r\n").unwrap_or(("", &self.raw));
        let headers = headers.to_ascii_lowercase();
        if headers.contains("content-transfer-encoding: base64") {
            use base64::Engine;
            let compact: String = body.split_whitespace().collect();
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(compact)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        } else if headers.contains("content-transfer-encoding: quoted-printable") {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        }
    }

    /// The `Subject:` header as sent: RFC 2047-encoded if the subject is
    /// not ASCII, and only its first line if folded. `None` without one.
    pub fn subject(&self) -> Option<String> {
        self.raw
            .lines()
            .find_map(|line| line.strip_prefix("Subject: "))
            .map(str::to_owned)
    }
}

fn decode_quoted_printable(body: &str) -> String {
    let joined = body.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'='
            && i + 2 < bytes.len()
            && let Ok(byte) = u8::from_str_radix(&joined[i + 1..i + 3], 16)
        {
            out.push(byte);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A local SMTP server that keeps what it receives. Clones share its
/// mailbox. It accepts connections on the test's runtime until the runtime
/// ends: there is no stop, and dropping it does not stop it.
#[derive(Clone)]
pub struct SmtpStandIn {
    /// The port it listens on, on `127.0.0.1`.
    pub port: u16,
    mails: Arc<Mutex<Vec<CapturedMail>>>,
    arrived: Arc<Notify>,
}

impl SmtpStandIn {
    /// Starts listening on a free port of `127.0.0.1`, with an empty
    /// mailbox. Panics if no port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind SMTP stand-in");
        let port = listener.local_addr().expect("local addr").port();
        let stand_in = Self {
            port,
            mails: Arc::default(),
            arrived: Arc::default(),
        };
        let server = stand_in.clone();
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let server = server.clone();
                tokio::spawn(async move {
                    let _ = server.session(socket).await;
                });
            }
        });
        stand_in
    }

    /// The settings that point the API at this stand-in (`SMTP_HOST`,
    /// `SMTP_PORT`, `SMTP_TLS=none`, `SMTP_FROM`), for
    /// [`TestApp::spawn_with_env`](crate::TestApp::spawn_with_env).
    pub fn settings(&self) -> Vec<(String, String)> {
        vec![
            ("SMTP_HOST".into(), "127.0.0.1".into()),
            ("SMTP_PORT".into(), self.port.to_string()),
            ("SMTP_TLS".into(), "none".into()),
            ("SMTP_FROM".into(), "HeyClaw <no-reply@heyclaw.test>".into()),
        ]
    }

    /// Every message received so far, oldest first. Does not wait; see
    /// [`SmtpStandIn::wait_for`].
    pub async fn mails(&self) -> Vec<CapturedMail> {
        self.mails.lock().await.clone()
    }

    /// Waits until at least `count` mails have arrived (in total, since the
    /// start) or `timeout` passes, and returns every mail received. Does
    /// not panic on timeout: check the length of what it returns.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<CapturedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let mails = self.mails().await;
            if mails.len() >= count {
                return mails;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.mails().await;
            }
        }
    }

    async fn session(&self, socket: tokio::net::TcpStream) -> std::io::Result<()> {
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read);
        write
            .write_all(b"220 heyclaw-smtp-stand-in ESMTP\r\n")
            .await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let command = line.trim_end().to_owned();
            let upper = command.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-heyclaw-smtp-stand-in\r\n250 8BITMIME\r\n"
            } else if upper.starts_with("HELO")
                || upper.starts_with("NOOP")
                || upper.starts_with("RSET")
            {
                b"250 OK\r\n"
            } else if let Some(rest) = upper.strip_prefix("MAIL FROM:") {
                from = command[command.len() - rest.len()..].trim().to_owned();
                b"250 OK\r\n"
            } else if let Some(rest) = upper.strip_prefix("RCPT TO:") {
                to.push(command[command.len() - rest.len()..].trim().to_owned());
                b"250 OK\r\n"
            } else if upper == "DATA" {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut raw = String::new();
                loop {
                    line.clear();
                    if lines.read_line(&mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == ".\r\n" || line == ".\n" {
                        break;
                    }
                    // Undo SMTP dot-stuffing.
                    raw.push_str(line.strip_prefix('.').unwrap_or(&line));
                }
                self.mails.lock().await.push(CapturedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    raw,
                });
                self.arrived.notify_waiters();
                b"250 OK: queued\r\n"
            } else if upper == "QUIT" {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            } else {
                b"502 Command not implemented\r\n"
            };
            write.write_all(reply).await?;
        }
    }
}
