//! The layers of the strict reader below the tar reader: the input, counting the
//! compressed bytes consumed, and the decompressed stream, stopped when it grows past
//! the caps (a decompression bomb, or more than an archive may hold).

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use super::{Failure, RATIO_FLOOR, Rejection};

/// What the layers of the reader share: the compressed bytes consumed so far, and
/// the rejection a layer found (the tar reader only passes an `io::Error` on).
#[derive(Default)]
pub(super) struct Shared {
    pub(super) compressed: Cell<u64>,
    pub(super) rejection: RefCell<Option<Rejection>>,
}

/// The rejection for a failed read: the one a layer recorded, else truncation or
/// damage.
pub(super) fn damaged(shared: &Shared, e: io::Error) -> Failure {
    if let Some(r) = shared.rejection.borrow_mut().take() {
        return r.into();
    }
    let text = e.to_string();
    if e.kind() == io::ErrorKind::UnexpectedEof || text.contains("entire block") {
        Rejection::Truncated(text).into()
    } else {
        Rejection::Damaged(text).into()
    }
}

/// The input, counting the bytes the decoder consumes.
pub(super) struct Consumed<R> {
    pub(super) inner: io::BufReader<R>,
    pub(super) shared: Rc<Shared>,
}

impl<R: Read> Read for Consumed<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.shared
            .compressed
            .set(self.shared.compressed.get() + n as u64);
        Ok(n)
    }
}

impl<R: Read> BufRead for Consumed<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        self.shared
            .compressed
            .set(self.shared.compressed.get() + amt as u64);
        self.inner.consume(amt)
    }
}

pub(super) enum Decoder<B: BufRead> {
    Gzip(flate2::bufread::GzDecoder<B>),
    Zstd(zstd::Decoder<'static, B>),
}

/// The decompressed stream, stopped when it grows past the caps.
pub(super) struct Guard<B: BufRead> {
    pub(super) inner: Decoder<B>,
    pub(super) out: u64,
    pub(super) shared: Rc<Shared>,
    pub(super) max_ratio: u64,
    pub(super) max_out: u64,
}

impl<B: BufRead> Read for Guard<B> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = match &mut self.inner {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Zstd(d) => d.read(buf),
        }?;
        self.out += n as u64;
        let compressed = self.shared.compressed.get().max(1);
        let rejection =
            if self.out > RATIO_FLOOR && self.out > compressed.saturating_mul(self.max_ratio) {
                Some(Rejection::Bomb(self.max_ratio))
            } else if self.out > self.max_out {
                Some(Rejection::TooLarge(self.max_out))
            } else {
                None
            };
        if let Some(r) = rejection {
            let message = r.to_string();
            *self.shared.rejection.borrow_mut() = Some(r);
            return Err(io::Error::other(message));
        }
        Ok(n)
    }
}
