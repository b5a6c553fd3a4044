//! Connecting to a remote target: the opendal service for its protocol (S3, SFTP,
//! WebDAV) with its credentials, bandwidth limit and retries. No request is made until
//! the destination is used.

use super::*;

impl RemoteDestination {
    /// Connects to the target written as `target` (no request is made yet).
    /// `credentials_file` is what the target's protocol needs: an AWS credentials file,
    /// an SSH private key, a WebDAV login.
    pub fn connect(
        name: &str,
        target: &str,
        credentials_file: Option<&Path>,
        bandwidth: Option<u64>,
    ) -> Result<RemoteDestination, DestError> {
        let parsed = RemoteTarget::parse(target).map_err(|message| DestError::Remote {
            dest: name.into(),
            op: "configure",
            key: None,
            message,
            transient: false,
        })?;
        RemoteDestination::open(name, target, &parsed, credentials_file, bandwidth)
    }

    /// Connects to a parsed target; `target` is its text, for messages.
    pub fn open(
        name: &str,
        target: &str,
        parsed: &RemoteTarget,
        credentials_file: Option<&Path>,
        bandwidth: Option<u64>,
    ) -> Result<RemoteDestination, DestError> {
        let configure = |message: String| DestError::Remote {
            dest: name.into(),
            op: "configure",
            key: None,
            message,
            transient: false,
        };
        // The HTTP client (reqwest with rustls); installing it twice is harmless.
        opendal::install_default();
        let protocol = parsed.protocol();
        let fail = |e: opendal::Error| remote_error(name, protocol, "configure", None, e);
        let (op, publish) = match parsed {
            RemoteTarget::S3(t) => {
                let credentials = credentials_file
                    .map(Credentials::from_file)
                    .transpose()
                    .map_err(configure)?;
                (
                    opendal::Operator::new(s3_builder(t, credentials.as_ref())).map_err(fail)?,
                    Publish::Direct,
                )
            }
            RemoteTarget::Sftp(t) => {
                let mut b = opendal::services::Sftp::default()
                    .endpoint(&t.ssh_destination())
                    .root(&t.path)
                    .known_hosts_strategy(match t.known_hosts {
                        KnownHosts::Strict => "strict",
                        KnownHosts::AcceptNew => "add",
                    });
                if let Some(key) = credentials_file {
                    b = b.key(&key.to_string_lossy());
                }
                (opendal::Operator::new(b).map_err(fail)?, Publish::Rename)
            }
            RemoteTarget::WebDav(t) => {
                let login = match credentials_file {
                    Some(path) => Some(WebDavLogin::from_file(path).map_err(configure)?),
                    None => WebDavLogin::from_env(),
                };
                let mut b = opendal::services::Webdav::default()
                    .endpoint(&t.endpoint)
                    .root(&t.path);
                if let Some(l) = &login {
                    b = b.username(&l.username).password(&l.password);
                }
                (opendal::Operator::new(b).map_err(fail)?, Publish::Rename)
            }
        };
        let capability = op.info().capability();
        let _guard = RUNTIME.enter();
        let uploads = op.clone();
        let op = blocking::Operator::new(op).map_err(fail)?;
        Ok(RemoteDestination {
            name: name.into(),
            target: target.into(),
            parsed: parsed.clone(),
            op,
            uploads,
            protocol: parsed.protocol(),
            publish,
            if_not_exists: publish == Publish::Direct && capability.write_with_if_not_exists,
            streams: capability.write_can_multi,
            lock: None,
            // The burst holds one part, which is written in one go.
            throttle: Throttle::new(bandwidth, PART as u64),
        })
    }
}

/// The S3 service for a target: path style unless asked, CRC32C on every part.
fn s3_builder(t: &S3Target, credentials: Option<&Credentials>) -> opendal::services::S3 {
    let mut builder = opendal::services::S3::default()
        .bucket(&t.bucket)
        .root(&format!("/{}", t.prefix))
        .checksum_algorithm("crc32c");
    let endpoint = t
        .endpoint
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    if let Some(e) = endpoint.as_deref() {
        builder = builder.endpoint(e);
    }
    let region = t
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
        .unwrap_or_else(|| "us-east-1".into());
    builder = builder.region(&region);
    if t.virtual_host {
        builder = builder.enable_virtual_host_style();
    }
    if let Some(c) = credentials {
        builder = builder
            .access_key_id(&c.access_key_id)
            .secret_access_key(&c.secret_access_key)
            .disable_config_load();
    }
    builder
}
