//! Word frequencies over text files, sequentially and with `par_iter`, `fold` and `reduce`.
//!
//! ```text
//! cargo run --release --example wordfreq                       # a generated ~50 MB corpus
//! cargo run --release --example wordfreq -- src/*.rs README.md --top 20 --threads 2
//! ```
//!
//! Words are the runs of alphanumeric characters, lowercased. The text is cut into pieces of
//! about 256 KiB at word boundaries; the parallel count folds the pieces into one
//! `HashMap<String, u64>` per split and reduces by merging the maps. It prints the top `--top`
//! words (default 10), the number of words and distinct words, the sequential and parallel
//! times (on a pool of `--threads` workers, default all CPUs), the speedup, and whether the
//! parallel counts equal the sequential ones (it exits with an error if they do not).
//!
//! Without files, the corpus is made from a fixed vocabulary with a Zipf-like distribution by
//! a small PRNG, so it is the same on every run.

use std::borrow::Cow;
use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use stealpool::WorkerPool;
use stealpool::prelude::*;

type Counts = HashMap<String, u64>;

const PIECE: usize = 256 * 1024;
const CORPUS_BYTES: usize = 50 * 1024 * 1024;
const USAGE: &str = "usage: wordfreq [FILE]... [--top N] [--threads N]";

/// Adds the words of `text` to `counts`.
fn count_words(text: &str, counts: &mut Counts) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() {
            continue;
        }
        // Only a word with an upper-case or a non-ASCII letter needs a lower-cased copy.
        let plain = word
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let key: Cow<str> = if plain {
            word.into()
        } else {
            word.to_lowercase().into()
        };
        match counts.get_mut(&*key) {
            Some(n) => *n += 1,
            None => {
                counts.insert(key.into_owned(), 1);
            }
        }
    }
}

/// Adds the counts of the smaller map to the larger one.
fn merge(a: Counts, b: Counts) -> Counts {
    let (mut big, small) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    for (word, n) in small {
        *big.entry(word).or_insert(0) += n;
    }
    big
}

fn count_sequential(pieces: &[&str]) -> Counts {
    let mut counts = Counts::new();
    for piece in pieces {
        count_words(piece, &mut counts);
    }
    counts
}

fn count_parallel(pieces: &[&str]) -> Counts {
    pieces
        .par_iter()
        .fold(Counts::new, |mut counts, piece| {
            count_words(piece, &mut counts);
            counts
        })
        .reduce(Counts::new, merge)
}

/// Cuts `text` into pieces of about `PIECE` bytes, each ending before a non-word character.
fn split_pieces<'a>(text: &'a str, pieces: &mut Vec<&'a str>) {
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + PIECE).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        end += text[end..]
            .find(|c: char| !c.is_alphanumeric())
            .unwrap_or(text.len() - end);
        pieces.push(&text[start..end]);
        start = end;
    }
}

/// Reads a file as UTF-8, with a message that names it (and the offset of a bad byte).
fn read_text(path: &str) -> Result<String, String> {
    if std::fs::metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(format!("{path}: is a directory, not a file"));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{path}: cannot read: {e}"))?;
    String::from_utf8(bytes).map_err(|e| {
        let offset = e.utf8_error().valid_up_to();
        let byte = e.as_bytes()[offset];
        format!("{path}: not valid UTF-8: byte 0x{byte:02x} at offset {offset}")
    })
}

/// A deterministic text of about `bytes` bytes: words of a fixed vocabulary drawn with
/// probability proportional to 1/rank by a splitmix64 PRNG; sentences start with a capital.
fn generate_corpus(bytes: usize) -> String {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let common = "the of and to a in is it you that he was for on are with as i his they be at \
                  one have this from or had by word but what some we can out other were all";
    // Then made-up words: the base-12 digits of i as syllables (each with its own first letter,
    // so no two numbers give the same word).
    let syllables = [
        "ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "ber", "dan", "gor", "wel",
    ];
    let digits = |i: usize| std::iter::successors(Some(i), |&i| (i >= 12).then_some(i / 12));
    let made_up = |i| digits(i).map(|d| syllables[d % 12]).collect::<String>();
    let mut vocabulary: Vec<String> = common.split(' ').map(String::from).collect();
    vocabulary.extend((0..20_000 - vocabulary.len()).map(made_up));
    // Cumulative weights of 1/rank, to draw a word by binary search.
    let mut total = 0.0;
    let cumulative: Vec<f64> = (1..=vocabulary.len())
        .map(|rank| {
            total += 1.0 / rank as f64;
            total
        })
        .collect();
    let mut text = String::with_capacity(bytes + 64);
    let mut left_in_sentence = 0;
    while text.len() < bytes {
        let x = (next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let word = &vocabulary[cumulative
            .partition_point(|&c| c < x)
            .min(vocabulary.len() - 1)];
        let at = text.len();
        text.push_str(word);
        if left_in_sentence == 0 {
            left_in_sentence = 5 + next() % 16;
            text[at..at + 1].make_ascii_uppercase();
        }
        left_in_sentence -= 1;
        text.push_str(match (left_in_sentence, next() % 8) {
            (0, 0) => ".\n",
            (0, _) => ". ",
            (_, 0) => ", ",
            _ => " ",
        });
    }
    text
}

struct Args {
    files: Vec<String>,
    top: usize,
    threads: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        files: Vec::new(),
        top: 10,
        threads: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut number = |flag: &str| -> Result<usize, String> {
            let value = it
                .next()
                .ok_or_else(|| format!("{flag} needs a number\n{USAGE}"))?;
            value
                .parse()
                .map_err(|e| format!("{flag}: bad number {value:?}: {e}"))
        };
        match arg.as_str() {
            "--top" => args.top = number("--top")?,
            "--threads" => args.threads = Some(number("--threads")?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => {
                return Err(format!("unknown flag {flag:?}\n{USAGE}"));
            }
            file => args.files.push(file.to_string()),
        }
    }
    Ok(args)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mut builder = WorkerPool::builder();
    if let Some(threads) = args.threads {
        builder = builder.num_threads(threads);
    }
    let pool = builder
        .build()
        .map_err(|e| format!("cannot build the pool: {e}"))?;
    let threads = pool.num_threads();

    let start = Instant::now();
    let texts = if args.files.is_empty() {
        vec![generate_corpus(CORPUS_BYTES)]
    } else {
        args.files
            .iter()
            .map(|f| read_text(f))
            .collect::<Result<Vec<_>, _>>()?
    };
    let mut pieces = Vec::new();
    for text in &texts {
        split_pieces(text, &mut pieces);
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let source = match args.files.len() {
        0 => "generated corpus".to_string(),
        1 => args.files[0].clone(),
        n => format!("{n} files"),
    };
    let (elapsed, n) = (ms(start.elapsed()), pieces.len());
    println!("{source}: {bytes} bytes, loaded in {elapsed}, {n} piece(s)");

    let start = Instant::now();
    let sequential = count_sequential(&pieces);
    let t_sequential = start.elapsed();
    let start = Instant::now();
    let parallel = pool.install(|| count_parallel(&pieces));
    let t_parallel = start.elapsed();
    pool.shutdown();

    let mut ranked: Vec<(&str, u64)> = sequential.iter().map(|(w, &n)| (w.as_str(), n)).collect();
    ranked.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    if args.top > 0 && !ranked.is_empty() {
        println!("top {} words:", args.top.min(ranked.len()));
    }
    for (i, (word, n)) in ranked.iter().take(args.top).enumerate() {
        println!("{:>4}. {word:<16} {n:>10}", i + 1);
    }
    let words: u64 = sequential.values().sum();
    println!("words: {words}, distinct words: {}", sequential.len());
    println!("sequential: {}", ms(t_sequential));
    let plural = if threads == 1 { "" } else { "s" };
    println!("parallel:   {} on {threads} thread{plural}", ms(t_parallel));
    println!(
        "speedup:    {:.2}x",
        t_sequential.as_secs_f64() / t_parallel.as_secs_f64()
    );
    if parallel != sequential {
        let (distinct, total) = (parallel.len(), parallel.values().sum::<u64>());
        return Err(format!(
            "the parallel counts differ: {total} words, {distinct} distinct"
        ));
    }
    println!("check:      the parallel counts equal the sequential ones");
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wordfreq: {message}");
            ExitCode::FAILURE
        }
    }
}
