//! The frames between the pool and a worker process, and the one rule of the codec.
//!
//! A frame is a little-endian `u32` length (of what follows), a tag byte, and the payload. The
//! pool writes to the child's standard input and reads from its standard output (the child
//! moves both out of the way first: see [`super::child`]). One request is outstanding at a
//! time, so neither side ever reads ahead.
//!
//! | tag | direction | payload |
//! |---|---|---|
//! | [`TASK`] | pool → child | `u64` entry offset, then the arguments (postcard) |
//! | [`PING`] | pool → child | none |
//! | [`HELLO`] | child → pool | `u64` probe offset, `u32` pid |
//! | [`DONE`] | child → pool | the result (postcard) |
//! | [`PANICKED`] | child → pool | the panic message (UTF-8) |
//! | [`FAILED`] | child → pool | why the arguments or the result could not cross (UTF-8) |
//! | [`PONG`] | child → pool | none |
//!
//! Arguments and results use postcard: a plain serde format, compact (varints, no field
//! names) and maintained. Measured beside bincode 2 (`docs/bench/process.md`, "Codec"): each
//! is faster on two of four payloads (bincode on a `u64` and on a `Vec<u64>`, postcard on a
//! struct and on bytes), by nanoseconds against a round trip of tens of microseconds, and
//! postcard's encodings are the smallest; bincode 3 is an unmaintained placeholder.

use std::io::{self, Read, Write};

/// A task: the entry offset and the arguments.
pub(super) const TASK: u8 = 1;
/// A heartbeat between tasks.
pub(super) const PING: u8 = 2;
/// The child is ready; sent once, first.
pub(super) const HELLO: u8 = 10;
/// The task returned; its result.
pub(super) const DONE: u8 = 11;
/// The task panicked; its message.
pub(super) const PANICKED: u8 = 12;
/// The arguments did not decode or the result did not encode.
pub(super) const FAILED: u8 = 13;
/// The answer to [`PING`].
pub(super) const PONG: u8 = 14;

/// The largest frame either side accepts (1 GiB): a length past it means a corrupt stream.
pub(super) const MAX_FRAME: usize = 1 << 30;

/// Writes one frame in a single `write_all` (one system call for small frames).
pub(super) fn write_frame(out: &mut impl Write, tag: u8, parts: &[&[u8]]) -> io::Result<()> {
    let len = 1 + parts.iter().map(|p| p.len()).sum::<usize>();
    if len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("a frame of {len} bytes is over the limit of {MAX_FRAME}"),
        ));
    }
    let mut frame = Vec::with_capacity(4 + len);
    frame.extend_from_slice(&(len as u32).to_le_bytes());
    frame.push(tag);
    for part in parts {
        frame.extend_from_slice(part);
    }
    out.write_all(&frame)?;
    out.flush()
}

/// Reads one frame: its tag and payload. The end of the stream before a whole frame is
/// `UnexpectedEof`; a length over [`MAX_FRAME`] or of zero is `InvalidData`.
pub(super) fn read_frame(input: &mut impl Read) -> io::Result<(u8, Vec<u8>)> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len)?;
    let len = u32::from_le_bytes(len) as usize;
    if len == 0 || len > MAX_FRAME {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a frame announced {len} bytes: the stream is corrupt"),
        ));
    }
    let mut tag = [0u8; 1];
    input.read_exact(&mut tag)?;
    let mut payload = vec![0u8; len - 1];
    input.read_exact(&mut payload)?;
    Ok((tag[0], payload))
}

/// Splits a `u64` off the front of `payload`.
pub(super) fn take_u64(payload: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = payload.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_reads_back_as_written() {
        let mut buf = Vec::new();
        write_frame(&mut buf, TASK, &[&7u64.to_le_bytes(), b"args"]).unwrap();
        let (tag, payload) = read_frame(&mut buf.as_slice()).unwrap();
        assert_eq!(tag, TASK);
        let (offset, rest) = take_u64(&payload).unwrap();
        assert_eq!((offset, rest), (7, &b"args"[..]));
    }

    #[test]
    fn a_cut_or_corrupt_stream_is_an_error_not_a_hang() {
        let mut buf = Vec::new();
        write_frame(&mut buf, DONE, &[b"result"]).unwrap();
        let cut = &buf[..buf.len() - 1];
        let err = read_frame(&mut &cut[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let huge = u32::MAX.to_le_bytes();
        let err = read_frame(&mut &huge[..]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        let zero = 0u32.to_le_bytes();
        assert_eq!(
            read_frame(&mut &zero[..]).unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    }
}
