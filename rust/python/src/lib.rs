//! `toksmith._core`: the PyO3 bindings over `toksmith_engine`.
//!
//! Conversions only: every heavy engine call releases the GIL (`allow_threads`; filling a large
//! id list holds it while helper threads store the ids, see `ids`), and every engine error
//! becomes a Python exception carrying the engine's message (`OSError`/`FileNotFoundError` for
//! I/O, `ValueError` for everything else). Nothing here panics on user input.

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use std::collections::HashMap;
use std::path::PathBuf;
use toksmith_engine::count::{
    BinaryChunking, Counter as EngineCounter, CountsMeta, Utf8Policy, WordCounts as EngineCounts,
};
use toksmith_engine::normalize::Normalizer;
use toksmith_engine::pretokenize::SUPERBPE;
use toksmith_engine::pretokenize::{PreTokenizer, PRESETS};
use toksmith_engine::progress::Progress;
use toksmith_engine::special::SpecialSet;
use toksmith_engine::train::{train as engine_train, TrainConfig};
use toksmith_engine::train::{train_superbpe, MergeRules, Transition};
use toksmith_engine::Error;

mod ids;
mod text;
mod tokenizer;

use tokenizer::Tokenizer;

fn to_py(err: Error) -> PyErr {
    match err {
        Error::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(err.to_string())
        }
        Error::Io { .. } => PyOSError::new_err(err.to_string()),
        other => PyValueError::new_err(other.to_string()),
    }
}

fn special_set(names: Vec<String>) -> SpecialSet {
    if names.is_empty() {
        SpecialSet::Nothing
    } else {
        SpecialSet::Some(names.into_iter().collect())
    }
}

#[pyfunction]
fn preset_patterns() -> HashMap<String, String> {
    PRESETS
        .iter()
        .map(|(n, p)| (n.to_string(), p.to_string()))
        .collect()
}

/// Pre-token counts: the mergeable artifact of the counting phase.
#[pyclass(module = "toksmith._core")]
struct WordCounts {
    inner: EngineCounts,
    meta: CountsMeta,
}

#[pymethods]
impl WordCounts {
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let (inner, meta) = py
            .allow_threads(|| EngineCounts::load(&path))
            .map_err(to_py)?;
        Ok(WordCounts { inner, meta })
    }

    fn save(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.allow_threads(|| self.inner.save(&path, &self.meta))
            .map_err(to_py)
    }

    fn merge(&mut self, py: Python<'_>, other: PyRef<'_, WordCounts>) -> PyResult<()> {
        other
            .meta
            .check(&self.meta, "the counts being merged")
            .map_err(to_py)?;
        let other = other.inner.clone();
        py.allow_threads(|| self.inner.merge(other));
        Ok(())
    }

    fn copy(&self) -> WordCounts {
        WordCounts {
            inner: self.inner.clone(),
            meta: self.meta.clone(),
        }
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    #[getter]
    fn total(&self) -> u64 {
        self.inner.total()
    }

    #[getter]
    fn pretokenizer(&self) -> String {
        self.meta.pretokenizer.clone()
    }

    #[getter]
    fn normalizer(&self) -> String {
        self.meta.normalizer.clone()
    }

    fn prune(&mut self, max_distinct: usize) -> (usize, u64) {
        let report = self.inner.prune(max_distinct);
        (report.removed_distinct, report.removed_mass)
    }

    fn most_common<'py>(&self, py: Python<'py>, n: usize) -> Vec<(Bound<'py, PyBytes>, u64)> {
        let mut all: Vec<(&[u8], u64)> = self.inner.iter().collect();
        all.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        all.into_iter()
            .take(n)
            .map(|(k, v)| (PyBytes::new(py, k), v))
            .collect()
    }

    fn __repr__(&self) -> String {
        format!(
            "_core.WordCounts(distinct={}, total={}, pretokenizer={:?})",
            self.inner.len(),
            self.inner.total(),
            self.meta.pretokenizer
        )
    }
}

/// Counts pre-tokens over batches of text, files or raw bytes.
#[pyclass(module = "toksmith._core")]
struct Counter {
    inner: EngineCounter,
    policy: Utf8Policy,
    bytes_seen: u64,
}

fn utf8_policy(name: &str) -> PyResult<Utf8Policy> {
    match name {
        "strict" => Ok(Utf8Policy::Strict),
        "replace" => Ok(Utf8Policy::Replace),
        "skip" => Ok(Utf8Policy::SkipLine),
        other => Err(PyValueError::new_err(format!(
            "unknown utf8_errors policy {other:?}; expected strict, replace or skip"
        ))),
    }
}

#[pymethods]
impl Counter {
    #[new]
    #[pyo3(signature = (pretokenizer, normalizer="none", special_tokens=Vec::new(), utf8_errors="strict"))]
    fn new(
        pretokenizer: &str,
        normalizer: &str,
        special_tokens: Vec<String>,
        utf8_errors: &str,
    ) -> PyResult<Self> {
        let pretok = PreTokenizer::new(pretokenizer).map_err(to_py)?;
        let norm = Normalizer::from_name(normalizer).map_err(to_py)?;
        let policy = utf8_policy(utf8_errors)?;
        let inner = EngineCounter::new(pretok, norm, &special_tokens).map_err(to_py)?;
        Ok(Counter {
            inner,
            policy,
            bytes_seen: 0,
        })
    }

    fn add_texts(&mut self, py: Python<'_>, texts: Vec<String>) {
        self.bytes_seen += texts.iter().map(|t| t.len() as u64).sum::<u64>();
        let inner = &mut self.inner;
        py.allow_threads(|| {
            let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
            inner.add_texts(&refs)
        })
    }

    fn add_bytes(&mut self, py: Python<'_>, chunks: Vec<Vec<u8>>) -> PyResult<()> {
        self.bytes_seen += chunks.iter().map(|t| t.len() as u64).sum::<u64>();
        let inner = &mut self.inner;
        py.allow_threads(|| chunks.iter().try_for_each(|c| inner.add_bytes(c)))
            .map_err(to_py)
    }

    #[pyo3(signature = (paths, progress=None))]
    fn add_files(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        progress: Option<PyObject>,
    ) -> PyResult<()> {
        for p in &paths {
            self.bytes_seen += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        }
        let (inner, policy) = (&mut self.inner, self.policy);
        let sink = PyProgress::new(progress);
        py.allow_threads(|| inner.add_files(&paths, policy, &sink))
            .map_err(to_py)
    }

    /// Count whole files as raw bytes (binary BPE; needs the `none` pre-tokenizer).
    #[pyo3(signature = (paths, split_nul=true, window=256, progress=None))]
    fn add_binary_files(
        &mut self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        split_nul: bool,
        window: usize,
        progress: Option<PyObject>,
    ) -> PyResult<()> {
        if window == 0 {
            return Err(PyValueError::new_err(
                "binary window must be at least 1 byte",
            ));
        }
        for p in &paths {
            self.bytes_seen += std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        }
        let chunking = BinaryChunking { split_nul, window };
        let inner = &mut self.inner;
        let sink = PyProgress::new(progress);
        py.allow_threads(|| inner.add_binary_files(&paths, chunking, &sink))
            .map_err(to_py)
    }

    #[getter]
    fn bytes_seen(&self) -> u64 {
        self.bytes_seen
    }

    fn finish(&self) -> WordCounts {
        WordCounts {
            inner: self.inner.counts().clone(),
            meta: self.inner.meta(),
        }
    }
}

/// Forwards engine progress to a Python callable (errors in the callable are ignored).
struct PyProgress(Option<PyObject>);

impl PyProgress {
    fn new(callback: Option<PyObject>) -> Self {
        PyProgress(callback)
    }
}

impl Progress for PyProgress {
    fn update(&self, phase: &str, done: u64, total: u64) {
        if let Some(cb) = &self.0 {
            Python::with_gil(|py| {
                if let Err(e) = cb.call1(py, (phase, done, total)) {
                    e.print(py);
                }
            });
        }
    }
}

#[pyfunction]
#[pyo3(signature = (counts, vocab_size, min_frequency=0, max_token_length=None, special_tokens=Vec::new(), specials_at_end=false, base=None, progress=None, max_token_chars=None, added_tokens=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn train(
    py: Python<'_>,
    counts: PyRef<'_, WordCounts>,
    vocab_size: usize,
    min_frequency: u64,
    max_token_length: Option<usize>,
    special_tokens: Vec<String>,
    specials_at_end: bool,
    base: Option<PyRef<'_, Tokenizer>>,
    progress: Option<PyObject>,
    max_token_chars: Option<usize>,
    added_tokens: Vec<Vec<u8>>,
) -> PyResult<Tokenizer> {
    let config = TrainConfig {
        min_frequency,
        max_token_length,
        special_tokens,
        specials_at_end,
        merge_rules: None,
        max_token_chars,
        added_tokens,
        ..TrainConfig::new(vocab_size)
    };
    let meta = counts.meta.clone();
    let counts = &counts.inner;
    let base = base.as_ref().map(|b| &b.inner);
    let sink = PyProgress::new(progress);
    let inner = py
        .allow_threads(|| {
            let vocab = engine_train(counts, &config, base.map(|b| b.vocab()), &sink)?;
            let pretok = PreTokenizer::new(&meta.pretokenizer)?;
            let normalizer = Normalizer::from_name(&meta.normalizer)?;
            toksmith_engine::Tokenizer::new(vocab, pretok, normalizer)
        })
        .map_err(to_py)?;
    Ok(Tokenizer::wrap(inner))
}

fn merge_rules(max_words: Option<usize>, no_cross: &[String]) -> PyResult<MergeRules> {
    let mut rules = MergeRules::none();
    rules.max_words = max_words;
    for rule in no_cross {
        match rule.as_str() {
            "colon" => rules.no_colon_space = true,
            "sentence" => rules.no_sentence_newline = true,
            "newline" => rules.no_newline = true,
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown no_cross rule {other:?}; expected colon, sentence or newline"
                )))
            }
        }
    }
    Ok(rules)
}

/// Supertoken training: SuperBPE (with `stage1` counts and a transition) or one stage under
/// merge rules (e.g. on random-chunk counts). `encode_pattern` is the tokenizer's pre-tokenizer
/// (default: the counts' one; `none` for counts of random chunks).
#[pyfunction]
#[pyo3(signature = (counts, vocab_size, stage1=None, transition=None, transition_fraction=None, encode_pattern=None, max_words=None, no_cross=Vec::new(), min_frequency=0, max_token_length=None, special_tokens=Vec::new(), specials_at_end=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn train_supertokens(
    py: Python<'_>,
    counts: PyRef<'_, WordCounts>,
    vocab_size: usize,
    stage1: Option<PyRef<'_, WordCounts>>,
    transition: Option<usize>,
    transition_fraction: Option<f64>,
    encode_pattern: Option<String>,
    max_words: Option<usize>,
    no_cross: Vec<String>,
    min_frequency: u64,
    max_token_length: Option<usize>,
    special_tokens: Vec<String>,
    specials_at_end: bool,
    progress: Option<PyObject>,
) -> PyResult<Tokenizer> {
    let rules = merge_rules(max_words, &no_cross)?;
    let transition = match (transition, transition_fraction) {
        (Some(t), None) => Some(Transition::VocabSize(t)),
        (None, Some(f)) => Some(Transition::Fraction(f)),
        (None, None) => None,
        (Some(_), Some(_)) => {
            return Err(PyValueError::new_err(
                "give transition or transition_fraction, not both",
            ))
        }
    };
    if stage1.is_some() != transition.is_some() {
        return Err(PyValueError::new_err(
            "SuperBPE needs both stage1 counts and a transition point",
        ));
    }
    if let Some(s1) = &stage1 {
        if s1.meta.normalizer != counts.meta.normalizer {
            return Err(PyValueError::new_err(format!(
                "stage-1 counts use normalization {:?}, stage-2 counts {:?}",
                s1.meta.normalizer, counts.meta.normalizer
            )));
        }
    }
    let mut config = TrainConfig::new(vocab_size);
    config.min_frequency = min_frequency;
    config.max_token_length = max_token_length;
    config.special_tokens = special_tokens;
    config.specials_at_end = specials_at_end;
    let meta = counts.meta.clone();
    let stage2 = &counts.inner;
    let stage1 = stage1.as_ref().map(|s| &s.inner);
    let sink = PyProgress::new(progress);
    let inner = py
        .allow_threads(|| {
            let counted = PreTokenizer::new(&meta.pretokenizer)?;
            let encode = match &encode_pattern {
                Some(p) => PreTokenizer::new(p)?,
                None if counted.is_training_only() => PreTokenizer::none(),
                None => counted,
            };
            if encode.is_training_only() {
                return Err(Error::invalid(
                    "random chunks are a training-only pre-tokenizer; give another encode_pattern",
                ));
            }
            let vocab = match (stage1, transition) {
                (Some(s1), Some(t)) => train_superbpe(s1, stage2, t, &rules, &config, &sink)?,
                _ => {
                    config.merge_rules = Some(rules);
                    engine_train(stage2, &config, None, &sink)?
                }
            };
            let normalizer = Normalizer::from_name(&meta.normalizer)?;
            toksmith_engine::Tokenizer::new(vocab, encode, normalizer)
        })
        .map_err(to_py)?;
    Ok(Tokenizer::wrap(inner))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(preset_patterns, m)?)?;
    m.add_function(wrap_pyfunction!(train, m)?)?;
    m.add_function(wrap_pyfunction!(train_supertokens, m)?)?;
    m.add("SUPERBPE_PATTERN", SUPERBPE)?;
    m.add_class::<Tokenizer>()?;
    m.add_class::<WordCounts>()?;
    m.add_class::<Counter>()?;
    Ok(())
}
