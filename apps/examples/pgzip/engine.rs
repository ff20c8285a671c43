//! The parallel part of `pgzip`: one gzip member written from blocks compressed on a pool.
//!
//! The design is pigz's. A reader thread cuts the input into blocks and sends them over a
//! bounded channel. For each block the caller's thread spawns a pool task that computes the
//! block's CRC-32 and compresses it as raw deflate, with the last 32 KiB of the previous
//! block as a preset dictionary (so matches can reach back across the block boundary, as in
//! one deflate stream), and ends it with a sync flush: an empty stored block that leaves the
//! output byte-aligned and the deflate stream open, so the blocks' outputs can simply be
//! concatenated. The last block ends the stream instead. The caller's thread writes the
//! compressed blocks in order and combines their CRCs, then writes the gzip trailer.
//!
//! Memory stays bounded: at most `in_flight` blocks are spawned and not yet written, and the
//! reader runs at most a few blocks ahead.
//!
//! Shared by `examples/pgzip.rs` and `tests/pgzip.rs`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};
use std::thread;

use crc32fast::Hasher;
use flate2::{Compress, Compression, FlushCompress, Status};
use stealpool::{JoinHandle, WorkerPool};

/// Deflate's window: how far back a match can reach, so how much dictionary is useful.
pub const WINDOW: usize = 32 * 1024;

/// The default block size (pigz's).
pub const DEFAULT_BLOCK_SIZE: usize = 128 * 1024;

/// How to compress.
#[derive(Clone, Debug)]
pub struct Options {
    /// Deflate level, 0 (store) to 9 (smallest).
    pub level: u32,
    /// Bytes of input per block; at least [`WINDOW`].
    pub block_size: usize,
    /// Most blocks spawned and not yet written.
    pub in_flight: usize,
}

impl Options {
    /// Level 6, 128 KiB blocks, and room for two blocks per worker plus two.
    pub fn for_pool(pool: &WorkerPool) -> Options {
        Options {
            level: 6,
            block_size: DEFAULT_BLOCK_SIZE,
            in_flight: 2 * pool.num_threads() + 2,
        }
    }
}

/// What [`compress`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub blocks: u64,
}

/// One block of input, shared by its own task and (as dictionary) by the next block's.
struct Block {
    data: Arc<Vec<u8>>,
    last: bool,
}

/// What a task hands back.
struct Compressed {
    deflate: Vec<u8>,
    crc: Hasher,
    len: u64,
}

/// Compresses all of `input` to `output` as one gzip member, the blocks on `pool`.
///
/// `progress` is called after each block is written, with the input bytes done so far.
/// Errors from reading, writing or a failed task end the work: the blocks still queued are
/// cancelled, and what was written so far is not a complete gzip stream.
pub fn compress<R, W, P>(
    pool: &WorkerPool,
    input: R,
    output: &mut W,
    options: &Options,
    mut progress: P,
) -> io::Result<Summary>
where
    R: Read + Send + 'static,
    W: Write + ?Sized,
    P: FnMut(u64),
{
    assert!(
        options.block_size >= WINDOW,
        "block size below the 32 KiB window"
    );
    assert!(options.level <= 9, "deflate level above 9");
    let in_flight = options.in_flight.max(1);
    let (blocks, reader) = spawn_reader(input, options.block_size, pool.num_threads().max(2))?;

    let mut pending: VecDeque<JoinHandle<io::Result<Compressed>>> = VecDeque::new();
    let mut summary = Summary {
        bytes_in: 0,
        bytes_out: 0,
        blocks: 0,
    };
    let mut crc = Hasher::new();
    let result = (|| {
        output.write_all(&gzip_header(options.level))?;
        summary.bytes_out += 10;
        let mut previous: Option<Arc<Vec<u8>>> = None;
        for block in &blocks {
            let Block { data, last } = block?;
            let dictionary = previous.replace(Arc::clone(&data));
            let level = options.level;
            pending.push_back(
                pool.spawn(move || compress_block(&data, dictionary.as_deref(), level, last)),
            );
            if pending.len() >= in_flight {
                let oldest = pending.pop_front().expect("just checked");
                write_block(oldest, output, &mut crc, &mut summary, &mut progress)?;
            }
        }
        while let Some(oldest) = pending.pop_front() {
            write_block(oldest, output, &mut crc, &mut summary, &mut progress)?;
        }
        output.write_all(&crc.clone().finalize().to_le_bytes())?;
        // ISIZE: the input length modulo 2^32, as RFC 1952 says.
        output.write_all(&(summary.bytes_in as u32).to_le_bytes())?;
        output.flush()?;
        summary.bytes_out += 8;
        Ok(summary)
    })();
    if result.is_err() {
        for handle in &pending {
            handle.cancel();
        }
    }
    // Dropping the receiver makes a reader that is still running stop at its next send.
    drop(blocks);
    if result.is_ok() {
        reader.join().expect("the reader thread does not panic");
    }
    result
}

fn write_block<W: Write + ?Sized>(
    handle: JoinHandle<io::Result<Compressed>>,
    output: &mut W,
    crc: &mut Hasher,
    summary: &mut Summary,
    progress: &mut impl FnMut(u64),
) -> io::Result<()> {
    // `TaskError` is `Send` but not `Sync`, so it cannot be an `io::Error`'s source: keep its text.
    let block = handle
        .join()
        .map_err(|e| io::Error::other(format!("compressing a block: {e}")))??;
    output.write_all(&block.deflate)?;
    crc.combine(&block.crc);
    summary.bytes_in += block.len;
    summary.bytes_out += block.deflate.len() as u64;
    summary.blocks += 1;
    progress(summary.bytes_in);
    Ok(())
}

/// The reader thread: blocks of exactly `block_size` bytes (the last one may be shorter, or
/// empty when the input is), each marked whether it is the last.
fn spawn_reader<R: Read + Send + 'static>(
    mut input: R,
    block_size: usize,
    ahead: usize,
) -> io::Result<(Receiver<io::Result<Block>>, thread::JoinHandle<()>)> {
    let (sender, receiver) = sync_channel(ahead);
    let reader = thread::Builder::new()
        .name("pgzip-reader".into())
        .spawn(move || {
            let mut current = match read_block(&mut input, block_size) {
                Ok(data) => data,
                Err(error) => {
                    let _ = sender.send(Err(error));
                    return;
                }
            };
            loop {
                // Read one block ahead to know whether the current one is the last.
                let next = if current.len() < block_size {
                    Vec::new()
                } else {
                    match read_block(&mut input, block_size) {
                        Ok(data) => data,
                        Err(error) => {
                            let _ = sender.send(Err(error));
                            return;
                        }
                    }
                };
                let last = next.is_empty();
                let block = Block {
                    data: Arc::new(current),
                    last,
                };
                if sender.send(Ok(block)).is_err() || last {
                    return;
                }
                current = next;
            }
        })?;
    Ok((receiver, reader))
}

/// Reads until `block_size` bytes or the end of the input.
fn read_block<R: Read>(input: &mut R, block_size: usize) -> io::Result<Vec<u8>> {
    let mut data = Vec::with_capacity(block_size);
    input.take(block_size as u64).read_to_end(&mut data)?;
    Ok(data)
}

thread_local! {
    /// Each worker keeps one deflate state (a few hundred KiB) and resets it per block.
    static DEFLATE: RefCell<Option<(u32, Compress)>> = const { RefCell::new(None) };
}

/// Compresses one block as raw deflate; runs on the pool.
fn compress_block(
    data: &[u8],
    dictionary: Option<&Vec<u8>>,
    level: u32,
    last: bool,
) -> io::Result<Compressed> {
    let mut crc = Hasher::new();
    crc.update(data);
    let deflate = DEFLATE.with_borrow_mut(|slot| {
        let deflate = match slot {
            Some((kept, deflate)) if *kept == level => {
                deflate.reset();
                deflate
            }
            _ => {
                let fresh = Compress::new(Compression::new(level), false);
                &mut slot.insert((level, fresh)).1
            }
        };
        if let Some(dictionary) = dictionary {
            let start = dictionary.len().saturating_sub(WINDOW);
            deflate
                .set_dictionary(&dictionary[start..])
                .map_err(io::Error::other)?;
        }
        deflate_block(deflate, data, last)
    })?;
    Ok(Compressed {
        deflate,
        crc,
        len: data.len() as u64,
    })
}

fn deflate_block(deflate: &mut Compress, data: &[u8], last: bool) -> io::Result<Vec<u8>> {
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Stored blocks cost 5 bytes per 64 KiB; incompressible data grows by little more.
    let mut out = Vec::with_capacity(data.len() + data.len() / 64 + 64);
    loop {
        let consumed = deflate.total_in() as usize;
        let status = deflate
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete when all input is in and the output did not fill up.
            Status::Ok | Status::BufError => {
                !last && deflate.total_in() as usize == data.len() && out.len() < out.capacity()
            }
        };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity() / 2 + 64);
    }
}

/// A gzip header (RFC 1952): deflate, no name, no time stamp, from a Unix system.
fn gzip_header(level: u32) -> [u8; 10] {
    // XFL: 2 for the slowest level, 4 for the fastest, as gzip writes.
    let extra_flags = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, extra_flags, 3]
}
