//! Carrying a message: email over SMTP (lettre), a JSON webhook, ntfy, Gotify, a
//! command hook, and healthchecks.io-style pings. Each send is one attempt with a
//! timeout; the notifier decides what to do when one fails.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{ChannelConfig, ChannelKind, SmtpSecurity};
use crate::vocab::Severity;

use super::NotifyError;
use super::event::{Event, Phase};

/// How long one delivery may take.
const TIMEOUT: Duration = Duration::from_secs(20);

/// A healthchecks.io-style ping: the start of a pass, its success, or its failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ping {
    Start,
    /// The pass failed nothing and left every photo protected; its summary.
    Success(String),
    /// The pass failed something or left photos at risk; what.
    Fail(String),
}

/// Sends `event` through channel `c` of node `node`.
pub(super) fn send(c: &ChannelConfig, event: &Event) -> Result<(), NotifyError> {
    match c.kind {
        ChannelKind::Email => email(c, event),
        ChannelKind::Webhook => post(c, url(c)?, None, &serde_json::to_value(event).unwrap()),
        ChannelKind::Ntfy => ntfy(c, event),
        ChannelKind::Gotify => gotify(c, event),
        // A test message is a ping; anything else is not for a ping URL.
        ChannelKind::Healthchecks if event.kind == crate::vocab::EventKind::Test => {
            ping(c, &Ping::Success(event.title.clone()))
        }
        ChannelKind::Healthchecks => Ok(()),
        ChannelKind::Command => command(c, event),
    }
}

/// Pings channel `c` (a healthchecks channel): `URL/start`, `URL`, `URL/fail`.
pub(super) fn ping(c: &ChannelConfig, ping: &Ping) -> Result<(), NotifyError> {
    let base = url(c)?.trim_end_matches('/');
    let (to, body) = match ping {
        Ping::Start => (format!("{base}/start"), String::new()),
        Ping::Success(s) => (base.to_string(), s.clone()),
        Ping::Fail(s) => (format!("{base}/fail"), s.clone()),
    };
    let response = client()
        .post(&to)
        .body(body)
        .send()
        .map_err(|e| unreachable(c, &to, e))?;
    check_status(c, &to, response)
}

fn url(c: &ChannelConfig) -> Result<&str, NotifyError> {
    c.url.as_deref().ok_or_else(|| NotifyError::Settings {
        channel: c.name.clone(),
        message: "it has no url".into(),
    })
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(TIMEOUT)
        .build()
        .expect("an HTTP client with a timeout")
}

fn unreachable(c: &ChannelConfig, to: &str, e: reqwest::Error) -> NotifyError {
    NotifyError::Unreachable {
        channel: c.name.clone(),
        url: to.to_string(),
        error: crate::fault::chain(&e),
    }
}

fn check_status(
    c: &ChannelConfig,
    to: &str,
    response: reqwest::blocking::Response,
) -> Result<(), NotifyError> {
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let body: String = response
        .text()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    Err(NotifyError::Refused {
        channel: c.name.clone(),
        url: to.to_string(),
        status: status.as_u16(),
        body: body.trim().to_string(),
    })
}

/// A JSON POST, with a bearer token or a Gotify key when given.
fn post(
    c: &ChannelConfig,
    to: &str,
    header: Option<(&str, String)>,
    json: &serde_json::Value,
) -> Result<(), NotifyError> {
    let mut request = client()
        .post(to)
        .header("Content-Type", "application/json")
        .body(json.to_string());
    if let Some((name, value)) = header {
        request = request.header(name, value);
    }
    let response = request.send().map_err(|e| unreachable(c, to, e))?;
    check_status(c, to, response)
}

/// The secret in `credentials_file`, its lines trimmed.
fn secret(c: &ChannelConfig) -> Result<Option<Vec<String>>, NotifyError> {
    let Some(path) = &c.credentials_file else {
        return Ok(None);
    };
    read_secret(path)
        .map(Some)
        .map_err(|error| NotifyError::File {
            channel: c.name.clone(),
            key: "credentials_file",
            path: path.clone(),
            error,
        })
}

fn read_secret(path: &Path) -> std::io::Result<Vec<String>> {
    Ok(std::fs::read_to_string(path)?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// ntfy's JSON publishing: the topic is the URL's last segment, posted to its root.
fn ntfy(c: &ChannelConfig, event: &Event) -> Result<(), NotifyError> {
    let full = url(c)?.trim_end_matches('/');
    let (root, topic) = full.rsplit_once('/').unwrap_or((full, ""));
    let priority = match (event.phase, event.severity) {
        (Phase::Resolved, _) | (_, Severity::Info) => 3,
        (_, Severity::Warning) => 4,
        (_, Severity::Critical) => 5,
    };
    let tag = match (event.phase, event.severity) {
        (Phase::Resolved, _) => "white_check_mark",
        (_, Severity::Critical) => "rotating_light",
        (_, Severity::Warning) => "warning",
        (_, Severity::Info) => "information_source",
    };
    let json = serde_json::json!({
        "topic": topic,
        "title": event.subject(),
        "message": event.body(),
        "priority": priority,
        "tags": [tag],
    });
    let token = secret(c)?.and_then(|lines| lines.into_iter().next());
    post(
        c,
        root,
        token.map(|t| ("Authorization", format!("Bearer {t}"))),
        &json,
    )
}

/// Gotify's message API, with the application token.
fn gotify(c: &ChannelConfig, event: &Event) -> Result<(), NotifyError> {
    let to = format!("{}/message", url(c)?.trim_end_matches('/'));
    let priority = match (event.phase, event.severity) {
        (Phase::Resolved, _) | (_, Severity::Info) => 2,
        (_, Severity::Warning) => 5,
        (_, Severity::Critical) => 8,
    };
    let token = secret(c)?
        .and_then(|lines| lines.into_iter().next())
        .ok_or_else(|| NotifyError::Settings {
            channel: c.name.clone(),
            message: "its credentials_file holds no application token".into(),
        })?;
    let json = serde_json::json!({
        "title": event.subject(),
        "message": event.body(),
        "priority": priority,
    });
    post(c, &to, Some(("X-Gotify-Key", token)), &json)
}

/// `sh -c COMMAND` with the event as JSON on its standard input.
fn command(c: &ChannelConfig, event: &Event) -> Result<(), NotifyError> {
    let line = c.command.as_deref().unwrap_or_default();
    let failed = |message: String| NotifyError::Command {
        channel: c.name.clone(),
        command: line.to_string(),
        message,
    };
    let mut child = Command::new("sh")
        .args(["-c", line])
        .env("TRIPLICATE_EVENT", event.kind.as_str())
        .env("TRIPLICATE_SUBJECT", event.subject())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start it: {e}")))?;
    let json = serde_json::to_vec(event).unwrap();
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its input is fine.
        let _ = stdin.write_all(&json);
    }
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut e) = child.stderr.take() {
                    let _ = std::io::Read::read_to_string(&mut e, &mut stderr);
                }
                let said: String = stderr.trim().chars().take(300).collect();
                return Err(failed(format!("it exited with {status}: {said}")));
            }
            Ok(None) if started.elapsed() > TIMEOUT * 3 => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(failed(format!(
                    "it was still running after {} s and was stopped",
                    (TIMEOUT * 3).as_secs()
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(failed(e.to_string())),
        }
    }
}

/// An email through the channel's SMTP server.
fn email(c: &ChannelConfig, event: &Event) -> Result<(), NotifyError> {
    use lettre::message::Mailbox;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};

    let failed = |message: String| NotifyError::Email {
        channel: c.name.clone(),
        message,
    };
    let mailbox = |a: &str| {
        a.parse::<Mailbox>()
            .map_err(|e| failed(format!("'{a}' is not an email address: {e}")))
    };
    let mut message = Message::builder()
        .from(mailbox(c.from.as_deref().unwrap_or_default())?)
        .subject(event.subject());
    for to in &c.to {
        message = message.to(mailbox(to)?);
    }
    let message = message
        .body(event.body())
        .map_err(|e| failed(e.to_string()))?;

    let server = url(c)?;
    let (host, port) = smtp_host_port(server).ok_or_else(|| NotifyError::Settings {
        channel: c.name.clone(),
        message: format!("'{server}' is not smtp://HOST[:PORT] or smtps://HOST[:PORT]"),
    })?;
    let tls = || -> Result<TlsParameters, NotifyError> {
        let mut tls = TlsParameters::builder(host.clone());
        if let Some(path) = &c.ca_file {
            let pem = std::fs::read(path).map_err(|error| NotifyError::File {
                channel: c.name.clone(),
                key: "ca_file",
                path: path.clone(),
                error,
            })?;
            let cert = Certificate::from_pem(&pem).map_err(|e| {
                failed(format!(
                    "{} is not a PEM certificate: {}",
                    path.display(),
                    crate::fault::chain(&e)
                ))
            })?;
            tls = tls.add_root_certificate(cert);
        }
        tls.build_rustls()
            .map_err(|e| failed(crate::fault::chain(&e)))
    };
    let (security, default_port) = match c.smtp_security() {
        SmtpSecurity::Tls => (Tls::Wrapper(tls()?), 465),
        SmtpSecurity::Starttls => (Tls::Required(tls()?), 587),
        SmtpSecurity::None => (Tls::None, 25),
    };
    let mut builder = SmtpTransport::builder_dangerous(&host)
        .tls(security)
        .port(port.unwrap_or(default_port))
        .timeout(Some(TIMEOUT));
    if let Some(lines) = secret(c)? {
        let [user, password] = lines.as_slice() else {
            return Err(NotifyError::Settings {
                channel: c.name.clone(),
                message: "its credentials_file must hold the user name on its first line and the password on its second".into(),
            });
        };
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    builder
        .build()
        .send(&message)
        .map(drop)
        .map_err(|e| failed(format!("{server}: {}", crate::fault::chain(&e))))
}

/// "smtp://mail.example.com:587" → ("mail.example.com", Some(587)).
fn smtp_host_port(url: &str) -> Option<(String, Option<u16>)> {
    let rest = url
        .strip_prefix("smtps://")
        .or_else(|| url.strip_prefix("smtp://"))?
        .trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse().ok()?)),
        None => (rest, None),
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::smtp_host_port;

    #[test]
    fn an_smtp_url_gives_its_host_and_port() {
        assert_eq!(
            smtp_host_port("smtp://mail.example.com:587"),
            Some(("mail.example.com".into(), Some(587)))
        );
        assert_eq!(
            smtp_host_port("smtps://mail.example.com"),
            Some(("mail.example.com".into(), None))
        );
        assert_eq!(smtp_host_port("smtp://:25"), None);
        assert_eq!(smtp_host_port("http://x"), None);
        assert_eq!(smtp_host_port("smtp://h:port"), None);
    }
}
