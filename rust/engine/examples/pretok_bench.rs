//! Pre-tokenizer throughput: fast preset splitters vs fancy-regex, single-threaded.
//!
//! `cargo run --release -p toksmith-engine --example pretok_bench [MB]` builds a corpus of about
//! `MB` (default 20) megabytes of real prose and code from /usr/share/common-licenses,
//! /usr/share/doc/*/copyright and the Python standard library, then times each splitter and
//! checks that both produce the same pieces.

use std::path::{Path, PathBuf};
use std::time::Instant;
use toksmith_engine::pretokenize::{PreTokenizer, PRESETS};

fn main() {
    let mb: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20);
    let corpus = build_corpus(mb << 20);
    let size = corpus.len() as f64 / 1e6;
    println!("corpus: {size:.1} MB (speeds per second of this thread's CPU time)");
    for (name, pattern) in PRESETS {
        let fast = PreTokenizer::new(name).expect("preset");
        let slow = PreTokenizer::from_regex_reference(pattern).expect("preset regex");
        // Best of three for the fast splitter (the machine is shared; the minimum is the least
        // disturbed run), one run of the slow reference.
        let (fast_s, fast_n, fast_h) = (0..3)
            .map(|_| time(&fast, &corpus))
            .min_by(|a, b| a.0.total_cmp(&b.0))
            .expect("three runs");
        let (slow_s, slow_n, slow_h) = time(&slow, &corpus);
        let same = fast_n == slow_n && fast_h == slow_h;
        println!(
            "{name:7} fast {:7.1} MB/s   fancy-regex {:6.1} MB/s   speed-up {:5.1}x   pieces {fast_n} (identical: {same})",
            size / fast_s,
            size / slow_s,
            slow_s / fast_s,
        );
    }
}

/// CPU time of this thread in seconds (Linux `schedstat`), so that other processes competing
/// for the cores don't distort the numbers; wall-clock time elsewhere.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: f64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(ns / 1e9)
}

/// Seconds (CPU time of this thread where available), piece count and a hash of the pieces.
fn time(p: &PreTokenizer, text: &str) -> (f64, usize, u64) {
    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let mut n = 0usize;
    let mut h = 0u64;
    p.for_each_piece(text, |piece| {
        n += 1;
        h = h
            .wrapping_mul(0x100_0000_01b3)
            .wrapping_add(piece.len() as u64);
    });
    let wall = start.elapsed().as_secs_f64();
    let secs = match (cpu_start, cpu_seconds()) {
        (Some(a), Some(b)) if b > a => b - a,
        _ => wall,
    };
    (secs, n, h)
}

fn build_corpus(target: usize) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    files.extend(list("/usr/share/common-licenses"));
    for dir in list("/usr/share/doc") {
        files.push(dir.join("copyright"));
    }
    for lib in list("/usr/lib") {
        if lib
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("python3"))
        {
            walk_py(&lib, &mut files);
        }
    }
    let mut corpus = String::new();
    for f in files {
        if corpus.len() >= target {
            break;
        }
        if let Ok(text) = std::fs::read_to_string(&f) {
            corpus.push_str(&text);
        }
    }
    corpus
}

fn list(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn walk_py(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            walk_py(&p, out);
        } else if p.extension().is_some_and(|e| e == "py") {
            out.push(p);
        }
    }
}
