//! Tests of the `pgzip` example: the engine in-process (round trips through `gzip -d` and
//! flate2's decoders) and the program itself (options, stdin/stdout, errors).
//!
//! The program is built with `cargo build -p stealpool-apps --example pgzip` (a no-op when it
//! is up to date) into the same target directory and profile as this test.

#[path = "../../tests/common/mod.rs"]
mod common;
#[path = "../examples/pgzip/engine.rs"]
#[allow(dead_code)]
mod engine;

use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use common::Rng;

use stealpool::WorkerPool;

// ---------------------------------------------------------------------------------------------
// Data

/// Text-like data of exactly `len` bytes: words from a small vocabulary, in lines.
fn text(len: usize, seed: u64) -> Vec<u8> {
    const WORDS: &[&str] = &[
        "the", "pool", "steals", "work", "from", "a", "busy", "worker", "when", "its", "own",
        "deque", "is", "empty", "block", "deflate", "window", "gzip", "stream", "and", "of",
    ];
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let r = rng.next();
        out.extend_from_slice(WORDS[(r % WORDS.len() as u64) as usize].as_bytes());
        out.push(if r >> 60 == 0 { b'\n' } else { b' ' });
        if r >> 59 == 1 {
            out.extend_from_slice(format!("{} ", r >> 40).as_bytes());
        }
    }
    out.truncate(len);
    out
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| (rng.next() >> 56) as u8).collect()
}

// ---------------------------------------------------------------------------------------------
// The engine, in-process

fn pool() -> &'static WorkerPool {
    static POOL: OnceLock<WorkerPool> = OnceLock::new();
    POOL.get_or_init(|| WorkerPool::builder().num_threads(2).build().unwrap())
}

fn compress_with(data: &[u8], options: &engine::Options) -> Vec<u8> {
    let mut out = Vec::new();
    let mut reported = Vec::new();
    let summary = engine::compress(
        pool(),
        std::io::Cursor::new(data.to_vec()),
        &mut out,
        options,
        |done| reported.push(done),
    )
    .unwrap();
    assert_eq!(summary.bytes_in, data.len() as u64);
    assert_eq!(summary.bytes_out, out.len() as u64);
    assert_eq!(
        summary.blocks,
        data.len().div_ceil(options.block_size).max(1) as u64
    );
    // Progress: once per block, growing, ending at the input's length.
    assert_eq!(reported.len() as u64, summary.blocks);
    assert!(reported.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(reported.last(), Some(&(data.len() as u64)));
    out
}

fn compress(data: &[u8]) -> Vec<u8> {
    compress_with(data, &engine::Options::for_pool(pool()))
}

fn gunzip_in_process(gz: &[u8]) -> Vec<u8> {
    let mut single = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut single)
        .unwrap();
    let mut multi = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut multi)
        .unwrap();
    assert_eq!(single, multi);
    single
}

/// `gzip -dc`, or `None` when gzip is not installed.
fn gunzip_with_gzip(gz: &[u8]) -> Option<Vec<u8>> {
    let mut child = match Command::new("gzip")
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(_) => {
            eprintln!("gzip is not installed: skipping the check with gzip -d");
            return None;
        }
    };
    let mut stdin = child.stdin.take().unwrap();
    let gz = gz.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&gz));
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap().unwrap();
    assert!(
        output.status.success(),
        "gzip -d failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(output.stdout)
}

fn assert_round_trip(data: &[u8], gz: &[u8]) {
    assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "a gzip header");
    assert!(gunzip_in_process(gz) == data, "flate2 gives back the input");
    if let Some(back) = gunzip_with_gzip(gz) {
        assert!(back == data, "gzip -d gives back the input");
    }
}

#[test]
fn empty_input() {
    let gz = compress(b"");
    assert_round_trip(b"", &gz);
    // Header, an empty final block, CRC 0 and size 0.
    assert_eq!(gz.len(), 10 + 2 + 8);
}

#[test]
fn one_byte() {
    assert_round_trip(b"x", &compress(b"x"));
}

#[test]
fn exactly_one_block_and_around_it() {
    let size = engine::DEFAULT_BLOCK_SIZE;
    for len in [size - 1, size, size + 1] {
        let data = text(len, len as u64);
        assert_round_trip(&data, &compress(&data));
    }
}

#[test]
fn many_blocks() {
    let data = text(1_500_000, 7);
    let options = engine::Options {
        block_size: 32 * 1024,
        ..engine::Options::for_pool(pool())
    };
    let gz = compress_with(&data, &options);
    assert_round_trip(&data, &gz);
    assert!(gz.len() < data.len() / 2, "text compresses");
}

#[test]
fn dictionary_keeps_the_ratio_close_to_one_stream() {
    let data = text(600_000, 11);
    let options = engine::Options {
        block_size: 32 * 1024,
        ..engine::Options::for_pool(pool())
    };
    let ours = compress_with(&data, &options).len();
    let mut one_stream =
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(options.level));
    one_stream.write_all(&data).unwrap();
    let theirs = one_stream.finish().unwrap().len();
    assert!(
        (ours as f64) < theirs as f64 * 1.03,
        "{ours} bytes in blocks against {theirs} in one stream"
    );
}

#[test]
fn incompressible_data() {
    let data = random(300_000, 3);
    let gz = compress(&data);
    assert_round_trip(&data, &gz);
    assert!(
        gz.len() < data.len() + data.len() / 100 + 100,
        "stored blocks cost little"
    );
}

#[test]
fn every_level_and_a_single_block_in_flight() {
    let data = text(200_000, 5);
    for level in 0..=9 {
        let options = engine::Options {
            level,
            block_size: 48 * 1024,
            in_flight: 1 + level as usize % 3,
        };
        assert_round_trip(&data, &compress_with(&data, &options));
    }
}

#[test]
fn large_blocks() {
    let data = text(700_000, 13);
    let options = engine::Options {
        block_size: 1 << 20,
        ..engine::Options::for_pool(pool())
    };
    assert_round_trip(&data, &compress_with(&data, &options));
}

#[test]
fn a_read_error_is_returned() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::other("disk on fire"));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(b'a');
            self.0 -= n;
            Ok(n)
        }
    }
    let mut out = Vec::new();
    let options = engine::Options::for_pool(pool());
    let error =
        engine::compress(pool(), Failing(1_000_000), &mut out, &options, |_| {}).unwrap_err();
    assert_eq!(error.to_string(), "disk on fire");
}

// ---------------------------------------------------------------------------------------------
// The program

/// The example's binary, built once per test run.
fn pgzip() -> Command {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    let binary = BINARY.get_or_init(|| {
        // This test runs as <target>/<profile>/deps/pgzip-<hash>.
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let target_dir = profile_dir.parent().unwrap();
        let profile = match profile_dir.file_name().unwrap().to_str().unwrap() {
            "debug" => "dev",
            other => other,
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args([
                "build",
                "--quiet",
                "--example",
                "pgzip",
                "--profile",
                profile,
            ])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --example pgzip failed");
        profile_dir
            .join("examples")
            .join(format!("pgzip{}", std::env::consts::EXE_SUFFIX))
    });
    let mut command = Command::new(binary);
    command.stdin(Stdio::null());
    command
}

fn run_with_stdin(mut command: Command, stdin: &[u8]) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    let stdin = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = pipe.write_all(&stdin);
    });
    let output = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    output
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A fresh directory under the target directory, removed by the caller's `fs::remove_dir_all`.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pgzip-test-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".pgzip-"))
        .collect()
}

#[test]
fn files_in_and_out_then_decompress() {
    let dir = scratch("files");
    let data = text(400_000, 17);
    fs::write(dir.join("in.txt"), &data).unwrap();
    let output = pgzip()
        .args(["-p", "2", "-l", "9", "-b", "64"])
        .arg(dir.join("in.txt"))
        .arg("-o")
        .arg(dir.join("in.txt.gz"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "quiet when not a terminal"
    );
    let gz = fs::read(dir.join("in.txt.gz")).unwrap();
    assert_round_trip(&data, &gz);

    let output = pgzip()
        .arg("-d")
        .arg(dir.join("in.txt.gz"))
        .arg("-o")
        .arg(dir.join("back.txt"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(fs::read(dir.join("back.txt")).unwrap() == data);
    assert!(leftovers(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stdin_to_stdout_both_ways() {
    let data = text(300_000, 19);
    let output = run_with_stdin(
        {
            let mut c = pgzip();
            c.args(["-p", "2"]);
            c
        },
        &data,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let gz = output.stdout;
    assert_round_trip(&data, &gz);

    let output = run_with_stdin(
        {
            let mut c = pgzip();
            c.args(["-d", "-"]);
            c
        },
        &gz,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout == data);
}

#[test]
fn decompresses_what_gzip_wrote_including_several_members() {
    let data = text(100_000, 23);
    let mut gz = Vec::new();
    for half in [&data[..50_000], &data[50_000..]] {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(half).unwrap();
        gz.extend(encoder.finish().unwrap());
    }
    let mut command = pgzip();
    command.arg("-d");
    let output = run_with_stdin(command, &gz);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout == data);
}

/// Runs `command`, checks that it failed with exit code 1, and returns its stderr.
fn fails(command: &mut Command) -> String {
    let output = command.output().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    stderr(&output)
}

#[test]
fn missing_input() {
    let dir = scratch("missing");
    let message = fails(
        pgzip()
            .arg(dir.join("no-such-file"))
            .arg("-o")
            .arg(dir.join("out.gz")),
    );
    assert!(
        message.starts_with("pgzip: ") && message.contains("no-such-file"),
        "{message}"
    );
    assert!(!dir.join("out.gz").exists());
    assert!(leftovers(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn unwritable_output() {
    let dir = scratch("unwritable");
    fs::write(dir.join("in.txt"), text(10_000, 29)).unwrap();
    // A directory that does not exist, and one "directory" that is a file.
    for out in [
        dir.join("missing-dir").join("out.gz"),
        dir.join("in.txt").join("out.gz"),
    ] {
        let message = fails(pgzip().arg(dir.join("in.txt")).arg("-o").arg(&out));
        assert!(message.contains("out.gz"), "{message}");
        assert!(!out.exists());
    }
    // A directory we may not write to (root may, so only check what happened).
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let locked = dir.join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o555)).unwrap();
        let output = pgzip()
            .arg(dir.join("in.txt"))
            .arg("-o")
            .arg(locked.join("out.gz"))
            .output()
            .unwrap();
        if output.status.success() {
            eprintln!("running with rights to write anywhere: skipping the read-only directory");
        } else {
            assert_eq!(output.status.code(), Some(1));
            assert!(!locked.join("out.gz").exists());
        }
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert!(leftovers(&dir).is_empty());
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_failure_halfway_leaves_no_file_and_keeps_the_old_one() {
    let dir = scratch("halfway");
    let data = text(2_000_000, 31);
    let gz = compress(&data);
    // Cut the stream short: decompressing writes part of the output, then fails.
    fs::write(dir.join("cut.gz"), &gz[..gz.len() / 2]).unwrap();
    for existing in [false, true] {
        let out = dir.join("out.txt");
        if existing {
            fs::write(&out, b"old contents").unwrap();
        }
        let message = fails(
            pgzip()
                .arg("-d")
                .arg(dir.join("cut.gz"))
                .arg("-o")
                .arg(&out),
        );
        assert!(message.contains("cut.gz"), "{message}");
        if existing {
            assert_eq!(fs::read(&out).unwrap(), b"old contents");
        } else {
            assert!(!out.exists());
        }
        assert!(leftovers(&dir).is_empty(), "{:?}", leftovers(&dir));
    }
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn not_gzip_data() {
    let mut command = pgzip();
    command.arg("-d");
    let output = run_with_stdin(command, b"plain text, not gzip");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("stdin"), "{}", stderr(&output));
}

#[test]
fn bad_options_are_usage_errors() {
    for args in [&["-l", "10"][..], &["-p", "0"], &["-b", "8"]] {
        let output = pgzip().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        assert!(!stderr(&output).is_empty());
    }
}
