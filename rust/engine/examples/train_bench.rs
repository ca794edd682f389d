//! Time counting and merging on a text file: `train_bench FILE VOCAB [PATTERN]`.
//! Prints `count_s`, `merge_s`, distinct pre-tokens and the number of merges.

use std::time::Instant;
use toksmith_engine::count::{Counter, Utf8Policy};
use toksmith_engine::normalize::Normalizer;
use toksmith_engine::pretokenize::PreTokenizer;
use toksmith_engine::progress::Silent;
use toksmith_engine::train::{train, TrainConfig};

fn main() -> toksmith_engine::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let file = std::path::PathBuf::from(&args[1]);
    let vocab: usize = args[2].parse().expect("vocab size");
    let spec = args.get(3).map(String::as_str).unwrap_or("o200k");
    let t0 = Instant::now();
    let mut counter = Counter::new(PreTokenizer::new(spec)?, Normalizer::None, &[])?;
    counter.add_files(&[file], Utf8Policy::Strict, &Silent)?;
    let counts = counter.finish();
    let t1 = Instant::now();
    let v = train(&counts, &TrainConfig::new(vocab), None, &Silent)?;
    let t2 = Instant::now();
    println!(
        "count_s {:.3} merge_s {:.3} distinct {} total {} merges {} tokens {}",
        (t1 - t0).as_secs_f64(),
        (t2 - t1).as_secs_f64(),
        counts.len(),
        counts.total(),
        v.merges().len(),
        v.num_ordinary()
    );
    Ok(())
}
