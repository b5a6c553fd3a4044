//! S3 Object Lock: a retention period on every object an S3 destination stores.
//!
//! On a bucket created with Object Lock, an object version under retention cannot be
//! deleted or overwritten until its date passes, by anyone (`compliance`) or by anyone
//! without the bypass permission (`governance`). Triplicate sets the retention right
//! after each upload with `PutObjectRetention` (opendal sends no lock headers with a
//! PUT), signed with SigV4 by reqsign, the signer opendal itself uses. A `prune` or a
//! version moved aside at such a destination only adds a delete marker: the locked
//! version stays until its date.

use std::time::Duration;

use base64::Engine as _;
use md5::Digest as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::RUNTIME;
use super::target::{Credentials, S3Target};

pub use crate::values::LockMode;

/// The characters S3 keys keep as they are in a URL path.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Sets retention on the objects of one bucket.
pub struct ObjectLock {
    pub mode: LockMode,
    pub period: Duration,
    /// `https://host[/bucket]`: what a key is appended to.
    base: String,
    /// The prefix the destination lives under, with a trailing slash (or empty).
    prefix: String,
    region: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    client: reqwest::Client,
}

impl ObjectLock {
    /// For the bucket of `target`, with the same credentials as its uploads (the
    /// credentials file, else the AWS_* environment).
    pub fn new(
        target: &S3Target,
        credentials: Option<&Credentials>,
        mode: LockMode,
        period: Duration,
    ) -> Result<ObjectLock, String> {
        let region = target
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        let endpoint = target
            .endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
            .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
        let endpoint = endpoint.trim_end_matches('/');
        let base = if target.virtual_host {
            match endpoint.split_once("://") {
                Some((scheme, host)) => format!("{scheme}://{}.{host}", target.bucket),
                None => return Err(format!("endpoint '{endpoint}' has no scheme")),
            }
        } else {
            format!("{endpoint}/{}", target.bucket)
        };
        let (access_key_id, secret_access_key, session_token) = match credentials {
            Some(c) => (c.access_key_id.clone(), c.secret_access_key.clone(), None),
            None => (
                std::env::var("AWS_ACCESS_KEY_ID").map_err(|_| {
                    "object lock needs credentials: a credentials file or AWS_ACCESS_KEY_ID"
                        .to_string()
                })?,
                std::env::var("AWS_SECRET_ACCESS_KEY")
                    .map_err(|_| "object lock needs AWS_SECRET_ACCESS_KEY".to_string())?,
                std::env::var("AWS_SESSION_TOKEN").ok(),
            ),
        };
        let prefix = if target.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", target.prefix)
        };
        Ok(ObjectLock {
            mode,
            period,
            base,
            prefix,
            region,
            access_key_id,
            secret_access_key,
            session_token,
            client: reqwest::Client::new(),
        })
    }

    /// Puts the object at `path` (below the destination's prefix) under retention
    /// until now plus the period. Returns the date set.
    pub fn retain(&self, path: &str) -> Result<String, String> {
        let until = chrono::Utc::now()
            + chrono::Duration::from_std(self.period).unwrap_or(chrono::Duration::days(1));
        let until = until.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <Retention xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <Mode>{}</Mode><RetainUntilDate>{until}</RetainUntilDate></Retention>",
            self.mode.as_s3()
        );
        let key = format!("{}{}", self.prefix, path.trim_start_matches('/'));
        let url = format!("{}/{}?retention", self.base, utf8_percent_encode(&key, KEY));
        let md5 =
            base64::engine::general_purpose::STANDARD.encode(md5::Md5::digest(body.as_bytes()));
        let sha256 = sha2::Sha256::digest(body.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let request = http::Request::put(&url)
            .header("content-type", "application/xml")
            .header("content-md5", md5)
            .header("x-amz-content-sha256", sha256)
            .body(())
            .map_err(|e| format!("a retention request for {key}: {e}"))?;
        let (mut parts, ()) = request.into_parts();
        let signer = reqsign_aws_v4::RequestSigner::new("s3", &self.region);
        let credential = reqsign_aws_v4::Credential {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            expires_in: None,
        };
        RUNTIME.block_on(async {
            use reqsign_core::SignRequest as _;
            signer
                .sign_request(&reqsign_core::Context::new(), &mut parts, Some(&credential), None)
                .await
                .map_err(|e| format!("cannot sign the retention request for {key}: {e}"))?;
            let mut send = self.client.put(&url).body(body);
            for (name, value) in &parts.headers {
                send = send.header(name, value);
            }
            let answer = send
                .send()
                .await
                .map_err(|e| format!("setting the retention of {key}: {e}"))?;
            if answer.status().is_success() {
                return Ok(until);
            }
            let status = answer.status();
            let text = answer.text().await.unwrap_or_default();
            Err(format!(
                "the store refused a retention period on {key} ({status}): {}; is Object Lock enabled on the bucket?",
                text.trim()
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_keys() {
        assert_eq!(
            <LockMode as crate::values::Parse>::parse("Compliance"),
            Ok(LockMode::Compliance)
        );
        assert!(<LockMode as crate::values::Parse>::parse("forever").is_err());
        let t = S3Target::parse("s3://photos/studio?endpoint=http://127.0.0.1:9000").unwrap();
        let lock = ObjectLock::new(
            &t,
            Some(&Credentials {
                access_key_id: "a".into(),
                secret_access_key: "b".into(),
            }),
            LockMode::Governance,
            Duration::from_secs(86_400),
        )
        .unwrap();
        assert_eq!(lock.base, "http://127.0.0.1:9000/photos");
        assert_eq!(lock.prefix, "studio/");
        assert_eq!(
            utf8_percent_encode("studio/2024/IMG 1+é.JPG", KEY).to_string(),
            "studio/2024/IMG%201%2B%C3%A9.JPG"
        );
    }
}
