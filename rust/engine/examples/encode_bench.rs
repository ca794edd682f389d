//! Single-thread encoding speed on a tiktoken rank file.
//!
//! `cargo run --release -p toksmith-engine --example encode_bench -- RANKS PATTERN FILE...`
//! (`PATTERN`: a preset name such as `cl100k`). For each file it prints the time of
//! pre-tokenization alone, BPE alone (over the pre-collected pieces) and the whole
//! `encode_ordinary`, each the fastest of `REPS` runs (the minimum is the least noisy estimate
//! on a shared machine; the harness in `benches/` reports medians across processes). Then the
//! text split at blank lines is encoded as a batch on rayon pools of 1 and 2 threads, and the BPE
//! time of the pieces that are not tokens is shown by piece length (they cost the most).
//!
//! With `ENCODE_ONLY=1` only `encode_ordinary` runs (fastest of 20): for profiling under `perf`
//! and for comparing two builds, alternating their processes on a noisy machine. With
//! `ENCODE_ONLY=cold` it prints the median of calls made right after 64 MiB of other writes
//! (tables out of every cache, as after other work) beside the median of the calls after them.

use base64::Engine;
use std::time::Instant;
use toksmith_engine::normalize::Normalizer;
use toksmith_engine::pretokenize::PreTokenizer;
use toksmith_engine::{TokenId, Tokenizer, Vocab};

fn load_ranks(path: &str) -> Vec<(Vec<u8>, TokenId)> {
    std::fs::read_to_string(path)
        .expect("readable rank file")
        .lines()
        .filter(|l| !l.is_empty())
        .map(|line| {
            let (b64, rank) = line.split_once(' ').expect("line `base64 rank`");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .expect("base64");
            (bytes, rank.parse().expect("rank"))
        })
        .collect()
}

const REPS: usize = 5;

/// The fastest of `REPS` runs of `f`, in seconds, and its last result.
fn fastest<T>(f: impl FnMut() -> T) -> (f64, T) {
    fastest_of(REPS, f)
}

/// The fastest of `reps` runs of `f`, in seconds, and its last result.
fn fastest_of<T>(reps: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut best = f64::INFINITY;
    let mut out = None;
    for _ in 0..reps {
        let t = Instant::now();
        let r = f();
        best = best.min(t.elapsed().as_secs_f64());
        out = Some(r);
    }
    (best, out.expect("reps > 0"))
}

/// Bytes written between calls to push the encoder's tables out of every cache level.
const EVICT_BYTES: usize = 64 << 20;

/// Median milliseconds of `f` right after the caches were filled with other data (`cold`, as in
/// a first call or after other work), and of `f` run twice in a row (`warm`, the second run).
fn cold_and_warm<T>(mut f: impl FnMut() -> T) -> (f64, f64) {
    let mut other = vec![0u8; EVICT_BYTES];
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for round in 0..REPS * 3 {
        other
            .iter_mut()
            .for_each(|b| *b = b.wrapping_add(round as u8));
        std::hint::black_box(&other);
        for times in [&mut cold, &mut warm] {
            let t = Instant::now();
            std::hint::black_box(f());
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(&mut cold), median(&mut warm))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [ranks, pattern, files @ ..] = &args[..] else {
        eprintln!("usage: encode_bench RANKS PATTERN FILE...");
        std::process::exit(2);
    };
    let loading = Instant::now();
    let vocab = Vocab::from_ranks(load_ranks(ranks), vec![]).expect("valid ranks");
    let pre = PreTokenizer::new(pattern).expect("pattern");
    let tok = Tokenizer::new(vocab, pre, Normalizer::None)
        .unwrap()
        .with_ignore_merges(true);
    eprintln!("load {:.0} ms", loading.elapsed().as_secs_f64() * 1e3);
    for file in files {
        let text = String::from_utf8_lossy(&std::fs::read(file).expect("input")).into_owned();
        let mb = text.len() as f64 / 1e6;
        if std::env::var("ENCODE_ONLY").is_ok_and(|v| v == "cold") {
            let (cold, warm) = cold_and_warm(|| tok.encode_ordinary(&text));
            println!("{file}: encode_ordinary cold {cold:.1} ms, warm {warm:.1} ms (medians)");
            continue;
        }
        if std::env::var_os("ENCODE_ONLY").is_some() {
            let (s, _) = fastest_of(20, || tok.encode_ordinary(&text));
            println!("{file}: encode_ordinary {:.1} ms", s * 1e3);
            continue;
        }
        let (pre_s, pieces) = fastest(|| tok.pretokenizer().split(&text));
        let (bpe_s, ids) = fastest(|| {
            let mut ids = Vec::with_capacity(text.len() / 3);
            for p in &pieces {
                tok.model().encode_piece(p.as_bytes(), &mut ids);
            }
            ids
        });
        let (all_s, all) = fastest(|| tok.encode_ordinary(&text));
        assert_eq!(all, ids);
        println!(
            "{file}: {mb:.2} MB, {} pieces, {} tokens | pretokenize {:.1} ms ({:.1} MB/s) | \
             bpe {:.1} ms ({:.1} MB/s) | encode_ordinary {:.1} ms ({:.1} MB/s)",
            pieces.len(),
            all.len(),
            pre_s * 1e3,
            mb / pre_s,
            bpe_s * 1e3,
            mb / bpe_s,
            all_s * 1e3,
            mb / all_s,
        );
        for (lo, hi) in [(2, 16), (17, 128), (129, usize::MAX)] {
            let merged: Vec<&[u8]> = pieces
                .iter()
                .map(|p| p.as_bytes())
                .filter(|p| (lo..=hi).contains(&p.len()) && tok.model().token_id(p).is_none())
                .collect();
            let (s, n_ids) = fastest(|| {
                let mut ids = Vec::new();
                for p in &merged {
                    tok.model().encode_piece(p, &mut ids);
                }
                ids.len()
            });
            let bytes: usize = merged.iter().map(|p| p.len()).sum();
            let lengths = match hi {
                usize::MAX => format!("{lo}+"),
                _ => format!("{lo}..={hi}"),
            };
            println!(
                "  not tokens, {lengths} bytes: {} pieces, {bytes} bytes, {n_ids} ids, bpe {:.1} ms",
                merged.len(),
                s * 1e3
            );
        }
        let docs: Vec<&str> = text.split("\n\n").collect();
        let batch_s = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            fastest(|| pool.install(|| tok.encode_ordinary_batch(&docs))).0
        };
        let (one, two) = (batch_s(1), batch_s(2));
        println!(
            "  batch of {} docs: 1 thread {:.1} MB/s, 2 threads {:.1} MB/s ({:.2}x)",
            docs.len(),
            mb / one,
            mb / two,
            one / two
        );
    }
}
