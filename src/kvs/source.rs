//! Reading a producer's MKV one EBML element at a time, answering `IDLE` while it sends
//! nothing, and the ways a PutMedia session fails.

use super::acks::Ack;
use super::errors::{ErrorId, FragmentFailure};
use super::mkvout::{id_len, id_value, size_len, size_value};
use super::pipeline::SealFailed;
use crate::mkv::ids;
use std::io::{self, Read};

/// An element header as read: (id, its bytes, size or `None` for unknown).
pub(crate) type ElementHeader = (u32, Vec<u8>, Option<u64>);

/// Reads EBML elements from a producer, answering `IDLE` while it sends nothing.
pub(crate) struct Source<'a, R, F> {
    pub(crate) src: R,
    pub(crate) on_ack: &'a mut F,
    pub(crate) peeked: Option<ElementHeader>,
    pub(crate) offset: u64,
}

pub(crate) enum Failed {
    /// The session ends with this failure (acknowledged `ERROR`).
    Fragment(FragmentFailure),
    /// The acknowledgement sink failed: nobody is listening.
    Sink(io::Error),
    /// An earlier, received fragment failed to seal or to be stored: the session ends with
    /// this failure, acknowledged `ERROR` with that fragment's timecode and number.
    At(SealFailed),
}

impl From<FragmentFailure> for Failed {
    fn from(f: FragmentFailure) -> Self {
        Failed::Fragment(f)
    }
}

pub(crate) fn read_error(e: &io::Error) -> Failed {
    Failed::Fragment(FragmentFailure::new(
        ErrorId::StreamReadError,
        e.to_string(),
    ))
}

pub(crate) fn invalid(offset: u64, what: &str) -> Failed {
    Failed::Fragment(FragmentFailure::new(
        ErrorId::InvalidMkvData,
        format!("at byte {offset}: {what}"),
    ))
}

impl<R: Read, F: FnMut(&Ack) -> io::Result<()>> Source<'_, R, F> {
    /// One read into `buf` (`Ok(0)`: the end of input), counted in the offset: `Interrupted`
    /// is retried, and `WouldBlock` or `TimedOut` answered with `IDLE` and retried.
    pub(crate) fn read_patiently(&mut self, buf: &mut [u8]) -> Result<usize, Failed> {
        loop {
            match self.src.read(buf) {
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    (self.on_ack)(&Ack::idle()).map_err(Failed::Sink)?;
                }
                Err(e) => return Err(read_error(&e)),
            }
        }
    }

    /// Fills `buf` completely; `Ok(false)` at a clean end of input before any byte.
    pub(crate) fn fill(&mut self, buf: &mut [u8]) -> Result<bool, Failed> {
        let mut got = 0;
        while got < buf.len() {
            match self.read_patiently(&mut buf[got..])? {
                0 if got == 0 => return Ok(false),
                0 => return Err(invalid(self.offset, "the input ends inside an element")),
                n => got += n,
            }
        }
        Ok(true)
    }

    /// The next child of a Cluster of `size` (`None`: unknown) of which `read` bytes were
    /// read: its (id, header bytes, size), or `None` where the Cluster ends — at its size, or
    /// for an unknown size at the end of input or an element that cannot be its child
    /// (RFC 8794 §6.2).
    pub(crate) fn cluster_child(
        &mut self,
        size: Option<u64>,
        read: u64,
    ) -> Result<Option<(u32, Vec<u8>, u64)>, Failed> {
        match size {
            Some(total) if read >= total => return Ok(None),
            Some(_) => {}
            None => match self.peek()? {
                None => return Ok(None),
                Some(id) if ids::ends_unknown_size_cluster(id) => return Ok(None),
                Some(_) => {}
            },
        }
        let Some((id, head, csize)) = self.header()? else {
            return Err(invalid(self.offset, "the input ends inside a Cluster"));
        };
        let csize = csize.ok_or_else(|| invalid(self.offset, "a Cluster child of unknown size"))?;
        Ok(Some((id, head, csize)))
    }

    /// The next element header: (id, its header bytes, size), or `None` at the end.
    pub(crate) fn header(&mut self) -> Result<Option<ElementHeader>, Failed> {
        if let Some(h) = self.peeked.take() {
            return Ok(Some(h));
        }
        let mut first = [0u8; 1];
        if !self.fill(&mut first)? {
            return Ok(None);
        }
        let at = self.offset - 1;
        let il = id_len(first[0]).ok_or_else(|| invalid(at, "invalid element id"))?;
        let mut head = vec![first[0]];
        head.resize(il + 1, 0);
        if !self.fill(&mut head[1..])? {
            return Err(invalid(at, "the input ends inside an element header"));
        }
        let sl = size_len(head[il]).ok_or_else(|| invalid(at, "invalid element size"))?;
        let start = head.len();
        head.resize(il + sl, 0);
        if !self.fill(&mut head[start..])? {
            return Err(invalid(at, "the input ends inside an element header"));
        }
        let id = id_value(&head[..il]);
        let size = size_value(&head[il..]);
        Ok(Some((id, head, size)))
    }

    pub(crate) fn peek(&mut self) -> Result<Option<u32>, Failed> {
        if self.peeked.is_none() {
            self.peeked = self.header()?;
        }
        Ok(self.peeked.as_ref().map(|h| h.0))
    }

    /// Reads `size` bytes of data onto `out`, straight into its spare capacity (no zero-filled
    /// staging buffer); `IDLE` while the producer sends nothing.
    pub(crate) fn data(&mut self, size: u64, max: u64, out: &mut Vec<u8>) -> Result<(), Failed> {
        if size > max {
            return Err(Failed::Fragment(FragmentFailure::new(
                ErrorId::MaxFragmentSize,
                format!("an element of {size} bytes exceeds the limit of {max}"),
            )));
        }
        let want = usize::try_from(size).map_err(|_| invalid(self.offset, "element too large"))?;
        out.reserve(want);
        let end = out.len() + want;
        while out.len() < end {
            let before = out.len();
            let left = (end - before) as u64;
            // On an error, what was read is on `out` already (`Read::read_to_end`).
            let r = (&mut self.src).take(left).read_to_end(out);
            self.offset += (out.len() - before) as u64;
            match r {
                Ok(_) if out.len() < end => {
                    return Err(invalid(self.offset, "the input ends inside an element"));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    (self.on_ack)(&Ack::idle()).map_err(Failed::Sink)?;
                }
                Err(e) => return Err(read_error(&e)),
            }
        }
        Ok(())
    }
}
