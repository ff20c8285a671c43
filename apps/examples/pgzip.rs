//! pgzip: a parallel gzip on a stealpool pool.
//!
//! ```text
//! cargo build --release -p stealpool-apps --example pgzip
//! target/release/examples/pgzip [-p THREADS] [-l LEVEL] [-b BLOCK_KIB] [INPUT] [-o OUTPUT]
//! target/release/examples/pgzip -d [INPUT] [-o OUTPUT]
//!
//! pgzip big.log -o big.log.gz          # compress a file, one worker per CPU, level 6
//! pgzip -p 2 -l 9 < in.txt > in.txt.gz # stdin to stdout, two workers, smallest output
//! pgzip -d big.log.gz -o big.log       # decompress (on one thread)
//! ```
//!
//! Without INPUT (or with `-`) it reads stdin; without `-o` it writes stdout, but refuses to
//! write compressed data to a terminal unless given `-f`. The output is one gzip member that
//! `gzip -d` and `pigz -d` read back byte for byte.
//!
//! How it works (see `examples/pgzip/engine.rs`), as pigz does: a reader thread cuts the input
//! into blocks (128 KiB by default, `-b`); each block is compressed as raw deflate by a task
//! on the pool (`WorkerPool::spawn`), primed with the last 32 KiB of the previous block as
//! a dictionary, and ended with a sync flush so the pieces concatenate into one deflate
//! stream; each task also computes its block's CRC-32, and the main thread combines them
//! while it writes the blocks in order. At most `2 × threads + 2` blocks are in flight, so
//! memory stays at a few MiB whatever the input's size.
//!
//! A progress bar shows on stderr when stderr is a terminal (not with `-q`). `-v` prints the
//! sizes, the speed and the pool's metrics table at the end.
//!
//! Errors (an input that cannot be read, an output that cannot be written) are reported on
//! stderr with exit code 1. An output file is written to a temporary file next to it and
//! renamed into place only when complete, so a failure (or Ctrl-C) leaves no partial file.
//! (Other signals, such as SIGTERM, do not run the handler: they can leave a `.pgzip-*.tmp`
//! file next to the output, never a partial file under the output's name.)

#[path = "pgzip/engine.rs"]
mod engine;

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Instant;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use stealpool::WorkerPool;
use tempfile::NamedTempFile;

/// Compress or decompress with gzip, the compression spread over a pool of threads.
#[derive(Parser, Debug)]
#[command(name = "pgzip", version)]
struct Args {
    /// Worker threads compressing at once (default: one per CPU).
    #[arg(short = 'p', long = "processes", value_name = "THREADS",
          value_parser = clap::value_parser!(u16).range(1..=1024))]
    threads: Option<u16>,

    /// Compression level: 0 (store only, fastest) to 9 (smallest).
    #[arg(short = 'l', long, default_value_t = 6,
          value_parser = clap::value_parser!(u32).range(0..=9))]
    level: u32,

    /// Block size in KiB: the unit of parallel work (at least 32).
    #[arg(short = 'b', long = "blocksize", value_name = "BLOCK_KIB", default_value_t = 128,
          value_parser = clap::value_parser!(u32).range(32..=1_048_576))]
    block_kib: u32,

    /// Decompress instead (single-threaded).
    #[arg(short = 'd', long)]
    decompress: bool,

    /// Write here instead of stdout.
    #[arg(short = 'o', long, value_name = "OUTPUT")]
    output: Option<PathBuf>,

    /// Write compressed data even when stdout is a terminal.
    #[arg(short = 'f', long)]
    force: bool,

    /// No progress bar.
    #[arg(short = 'q', long)]
    quiet: bool,

    /// At the end, print sizes, speed and the pool's metrics on stderr.
    #[arg(short = 'v', long)]
    verbose: bool,

    /// The file to read (default, or `-`: stdin).
    #[arg(value_name = "INPUT")]
    input: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pgzip: {message}");
            ExitCode::from(1)
        }
    }
}

/// The temporary output file, for the Ctrl-C handler to delete.
static TEMP_OUTPUT: Mutex<Option<PathBuf>> = Mutex::new(None);

fn run(args: &Args) -> Result<(), String> {
    let Opened {
        reader: input,
        len: input_len,
        name: input_name,
    } = open_input(args.input.as_deref())?;
    let output_name = match &args.output {
        Some(path) => path.display().to_string(),
        None => "stdout".to_string(),
    };
    if let (Some(input), Some(output)) = (&args.input, &args.output) {
        if same_file(input, output) {
            return Err(format!(
                "{}: input and output are the same file",
                input.display()
            ));
        }
    }
    if args.output.is_none() && !args.decompress && !args.force && io::stdout().is_terminal() {
        return Err(
            "compressed data not written to a terminal (use -o FILE, redirect, or -f)".into(),
        );
    }

    let mut sink = match &args.output {
        Some(path) => Sink::File(TempOutput::create(path)?),
        None => Sink::Stdout(io::stdout().lock()),
    };
    let progress = progress_bar(args, input_len);
    let started = Instant::now();

    let (bytes_in, bytes_out, pool) = if args.decompress {
        let (bytes_in, bytes_out) = decompress(input, &mut sink, &progress)
            .map_err(|e| describe(e, &input_name, &output_name, true))?;
        (bytes_in, bytes_out, None)
    } else {
        let mut builder = WorkerPool::builder().thread_name(|i| format!("pgzip-{i}"));
        if let Some(threads) = args.threads {
            builder = builder.num_threads(threads.into());
        }
        let pool = builder.build().map_err(|e| e.to_string())?;
        let options = engine::Options {
            level: args.level,
            block_size: args.block_kib as usize * 1024,
            ..engine::Options::for_pool(&pool)
        };
        let input = Input {
            inner: input,
            read: 0,
        };
        let summary = engine::compress(&pool, input, &mut sink, &options, |done| {
            progress.set_position(done)
        })
        .map_err(|e| describe(e, &input_name, &output_name, false))?;
        (summary.bytes_in, summary.bytes_out, Some(pool))
    };

    sink.finish().map_err(|e| format!("{output_name}: {e}"))?;
    progress.finish_and_clear();
    if args.verbose {
        report(bytes_in, bytes_out, started, args.decompress, pool.as_ref());
    }
    Ok(())
}

/// The input, opened.
struct Opened {
    /// A reader the reader thread can own.
    reader: Box<dyn Read + Send>,
    /// The length, when it is a regular file.
    len: Option<u64>,
    /// For messages.
    name: String,
}

fn open_input(path: Option<&Path>) -> Result<Opened, String> {
    let stdin = || Opened {
        reader: Box::new(io::stdin()),
        len: None,
        name: "stdin".into(),
    };
    match path {
        None => Ok(stdin()),
        Some(path) if path == Path::new("-") => Ok(stdin()),
        Some(path) => {
            let name = path.display().to_string();
            let file = File::open(path).map_err(|e| format!("{name}: {e}"))?;
            let metadata = file.metadata().map_err(|e| format!("{name}: {e}"))?;
            if metadata.is_dir() {
                return Err(format!("{name}: is a directory"));
            }
            Ok(Opened {
                reader: Box::new(file),
                len: metadata.is_file().then_some(metadata.len()),
                name,
            })
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Names the side an I/O error came from: the input's errors are marked as [`ReadError`]s,
/// bad compressed data is the input's fault too, and anything else is about the output.
fn describe(error: io::Error, input_name: &str, output_name: &str, decompress: bool) -> String {
    if error.get_ref().is_some_and(|e| e.is::<ReadError>()) {
        return format!(
            "{input_name}: {}",
            error.into_inner().expect("just checked")
        );
    }
    match error.kind() {
        io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput | io::ErrorKind::UnexpectedEof
            if decompress =>
        {
            format!("{input_name}: not valid gzip data ({error})")
        }
        _ => format!("{output_name}: {error}"),
    }
}

/// Marks an error as coming from the input.
#[derive(Debug)]
struct ReadError(io::Error);

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::error::Error for ReadError {}

/// Wraps the input so that its errors say so, and counts what was read (for `-d`'s progress).
struct Input<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Input<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => Err(io::Error::new(e.kind(), ReadError(e))),
        }
    }
}

fn decompress<W: Write>(
    input: Box<dyn Read + Send>,
    output: &mut W,
    progress: &ProgressBar,
) -> io::Result<(u64, u64)> {
    let mut decoder = flate2::read::MultiGzDecoder::new(io::BufReader::with_capacity(
        256 * 1024,
        Input {
            inner: input,
            read: 0,
        },
    ));
    let mut buffer = vec![0; 256 * 1024];
    let mut written = 0u64;
    loop {
        let n = match decoder.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        output.write_all(&buffer[..n])?;
        written += n as u64;
        progress.set_position(decoder.get_ref().get_ref().read);
    }
    output.flush()?;
    Ok((decoder.get_ref().get_ref().read, written))
}

/// Where the output goes: stdout, or a temporary file renamed into place at the end.
enum Sink {
    Stdout(io::StdoutLock<'static>),
    File(TempOutput),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Stdout(out) => out.write(buf),
            Sink::File(out) => out.file.as_file_mut().write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.write_all(buf),
            Sink::File(out) => out.file.as_file_mut().write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.flush(),
            Sink::File(_) => Ok(()),
        }
    }
}

impl Sink {
    fn finish(self) -> io::Result<()> {
        match self {
            Sink::Stdout(mut out) => out.flush(),
            Sink::File(out) => out.persist(),
        }
    }
}

/// A file in the output's directory that becomes the output when complete. Dropped before
/// that (an error), it is deleted; on Ctrl-C, the handler deletes it.
struct TempOutput {
    file: NamedTempFile,
    path: PathBuf,
    _registered: Registered,
}

/// While alive, the Ctrl-C handler knows the temporary file.
struct Registered(PathBuf);

impl Drop for Registered {
    fn drop(&mut self) {
        let mut temp = TEMP_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        if temp.as_ref() == Some(&self.0) {
            *temp = None;
        }
    }
}

impl TempOutput {
    fn create(path: &Path) -> Result<TempOutput, String> {
        let name = path.display();
        if path.is_dir() {
            return Err(format!("{name}: is a directory"));
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let mut builder = tempfile::Builder::new();
        builder.prefix(".pgzip-").suffix(".tmp");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            // Like any new file: read-write for all, less the umask.
            builder.permissions(std::fs::Permissions::from_mode(0o666));
        }
        let file = builder
            .tempfile_in(dir)
            .map_err(|e| format!("{name}: cannot create the output: {e}"))?;
        let temp = file.path().to_owned();
        *TEMP_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()) = Some(temp.clone());
        // Installing twice is an error we can ignore: there is only one output.
        let _ = ctrlc::set_handler(|| {
            if let Some(temp) = TEMP_OUTPUT.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = std::fs::remove_file(temp);
            }
            std::process::exit(130);
        });
        Ok(TempOutput {
            file,
            path: path.to_owned(),
            _registered: Registered(temp),
        })
    }

    fn persist(self) -> io::Result<()> {
        // Hold the lock so that Ctrl-C cannot delete the file while it is being renamed.
        let mut temp = TEMP_OUTPUT.lock().unwrap_or_else(|e| e.into_inner());
        self.file.persist(&self.path).map_err(|e| e.error)?;
        *temp = None;
        Ok(())
    }
}

fn progress_bar(args: &Args, input_len: Option<u64>) -> ProgressBar {
    if args.quiet || !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match input_len {
        Some(len) => ProgressBar::new(len).with_style(
            ProgressStyle::with_template(
                "{bar:40} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} eta {eta}",
            )
            .expect("valid template"),
        ),
        None => ProgressBar::no_length().with_style(
            ProgressStyle::with_template("{spinner} {binary_bytes} {binary_bytes_per_sec}")
                .expect("valid template"),
        ),
    };
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(10));
    bar
}

fn report(
    bytes_in: u64,
    bytes_out: u64,
    started: Instant,
    decompress: bool,
    pool: Option<&WorkerPool>,
) {
    let seconds = started.elapsed().as_secs_f64();
    let (raw, packed) = if decompress {
        (bytes_out, bytes_in)
    } else {
        (bytes_in, bytes_out)
    };
    eprintln!(
        "pgzip: {raw} bytes <-> {packed} bytes ({:.2}%), {seconds:.3} s, {:.1} MB/s",
        if raw == 0 {
            100.0
        } else {
            packed as f64 * 100.0 / raw as f64
        },
        raw as f64 / seconds.max(1e-9) / 1e6,
    );
    if let Some(pool) = pool {
        eprintln!("{}", pool.metrics());
    }
}
