//! Sending a file's bytes: one PUT for a small file, a multipart upload with parts in
//! flight for a large one (S3), or a write under a temporary name (SFTP, WebDAV); each
//! S3 part carries the CRC32C the store checks.

use super::*;

impl RemoteDestination {
    /// Sends exactly `len` bytes from `data` to `path`.
    pub(super) fn upload(
        &self,
        key: &RelPath,
        path: &str,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<(), DestError> {
        let options = opendal::options::WriteOptions {
            if_not_exists: self.if_not_exists,
            chunk: self.streams.then_some(PART),
            concurrent: PARTS_IN_FLIGHT,
            ..Default::default()
        };
        let mut writer = RUNTIME
            .block_on(self.uploads.writer_options(path, options))
            .map_err(|e| self.err("start writing", Some(key), e))?;
        let result = self.send(&mut writer, key, data, len);
        if result.is_err() {
            // An unfinished multipart upload is never visible, but its parts cost
            // storage until aborted (or until a lifecycle rule clears them, when the
            // store cannot be reached now).
            let _ = RUNTIME.block_on(writer.abort());
        }
        result
    }

    pub(super) fn send(
        &self,
        writer: &mut opendal::Writer,
        key: &RelPath,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<(), DestError> {
        let source = |source| DestError::Source {
            dest: self.name.clone(),
            key: key.clone(),
            source,
        };
        let mismatch = |got| DestError::LengthMismatch {
            dest: self.name.clone(),
            key: key.clone(),
            expected: len,
            got,
        };
        let write_error = |e| self.err("write", Some(key), e);
        if self.streams {
            let mut sent = 0u64;
            let mut buf = vec![0u8; PART];
            loop {
                let n = read_full(data, &mut buf).map_err(source)?;
                if n == 0 {
                    break;
                }
                sent += n as u64;
                if sent > len {
                    return Err(mismatch(sent));
                }
                RUNTIME
                    .block_on(writer.write(buf[..n].to_vec()))
                    .map_err(write_error)?;
            }
            if sent != len {
                return Err(mismatch(sent));
            }
        } else {
            // One request body: the file is held in memory while it is sent.
            let mut body = Vec::with_capacity(len as usize);
            let sent = data
                .take(len.saturating_add(1))
                .read_to_end(&mut body)
                .map_err(source)? as u64;
            if sent != len {
                return Err(mismatch(sent));
            }
            RUNTIME.block_on(writer.write(body)).map_err(write_error)?;
        }
        RUNTIME
            .block_on(writer.close())
            .map_err(|e| match e.kind() {
                opendal::ErrorKind::ConditionNotMatch | opendal::ErrorKind::AlreadyExists => {
                    DestError::AlreadyExists {
                        dest: self.name.clone(),
                        key: key.clone(),
                    }
                }
                _ => self.err("finish writing", Some(key), e),
            })?;
        Ok(())
    }
}

/// Fills `buf` as far as `data` goes; returns how much was read (0 at the end).
fn read_full(data: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match data.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}
