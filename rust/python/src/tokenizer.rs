//! The `Tokenizer` class: loading, saving, encoding and decoding.

use crate::ids::{extract_ids, IdObjects};
use crate::text::map_texts;
use crate::{special_set, to_py};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyString};
use std::collections::HashMap;
use std::path::PathBuf;
use toksmith_engine::formats::{hf_json, tiktoken};
use toksmith_engine::train::shaping::{self, Padding};
use toksmith_engine::vocab::SpecialToken;
use toksmith_engine::TokenId;

/// A byte-level BPE tokenizer (engine side).
#[pyclass(module = "toksmith._core", frozen)]
pub(crate) struct Tokenizer {
    pub(crate) inner: toksmith_engine::Tokenizer,
    /// One Python int per id, made on first use; lists of ids are built from these.
    ids: IdObjects,
}

#[pymethods]
impl Tokenizer {
    #[staticmethod]
    fn from_hf_json(py: Python<'_>, path: PathBuf) -> PyResult<Self> {
        let inner = py.allow_threads(|| hf_json::load(&path)).map_err(to_py)?;
        Ok(Tokenizer::wrap(inner))
    }

    #[staticmethod]
    fn from_hf_json_str(py: Python<'_>, json: &str) -> PyResult<Self> {
        let inner = py
            .allow_threads(|| hf_json::from_str(json, "tokenizer.json"))
            .map_err(to_py)?;
        Ok(Tokenizer::wrap(inner))
    }

    #[staticmethod]
    #[pyo3(signature = (path, pattern=None, special_tokens=None))]
    fn from_tiktoken(
        py: Python<'_>,
        path: PathBuf,
        pattern: Option<String>,
        special_tokens: Option<HashMap<String, TokenId>>,
    ) -> PyResult<Self> {
        let specials = special_tokens.map(|m| {
            let mut v: Vec<SpecialToken> = m
                .into_iter()
                .map(|(content, id)| SpecialToken { content, id })
                .collect();
            v.sort_by_key(|s| s.id);
            v
        });
        let inner = py
            .allow_threads(|| tiktoken::load(&path, pattern.as_deref(), specials))
            .map_err(to_py)?;
        Ok(Tokenizer::wrap(inner))
    }

    fn save_hf_json(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.allow_threads(|| hf_json::save(&self.inner, &path))
            .map_err(to_py)
    }

    fn to_hf_json_str(&self) -> PyResult<String> {
        hf_json::to_string(&self.inner).map_err(to_py)
    }

    fn save_tiktoken(&self, py: Python<'_>, path: PathBuf) -> PyResult<()> {
        py.allow_threads(|| tiktoken::save(&self.inner, &path))
            .map_err(to_py)
    }

    #[getter]
    fn vocab_size(&self) -> usize {
        self.inner.vocab().len()
    }

    #[getter]
    fn pattern(&self) -> Option<String> {
        self.inner.pretokenizer().pattern().map(str::to_string)
    }

    #[getter]
    fn pretokenizer(&self) -> String {
        self.inner.pretokenizer().spec().to_string()
    }

    #[getter]
    fn normalizer(&self) -> &'static str {
        self.inner.normalizer().name()
    }

    #[getter]
    fn ignore_merges(&self) -> bool {
        self.inner.ignore_merges()
    }

    #[getter]
    fn special_tokens(&self) -> HashMap<String, TokenId> {
        self.inner
            .vocab()
            .specials()
            .iter()
            .map(|s| (s.content.clone(), s.id))
            .collect()
    }

    #[getter]
    fn num_merges(&self) -> usize {
        self.inner.vocab().merges().len()
    }

    fn merges(&self) -> Vec<(TokenId, TokenId, TokenId)> {
        self.inner
            .vocab()
            .merges()
            .iter()
            .map(|m| (m.left, m.right, m.result))
            .collect()
    }

    fn encode_ordinary<'py>(&self, py: Python<'py>, text: &str) -> PyResult<Bound<'py, PyList>> {
        let runs = py.allow_threads(|| self.inner.encode_ordinary_runs(text));
        self.ids.list_of_runs(py, &runs, threads(None))
    }

    fn encode<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Vec<String>,
        disallowed: Vec<String>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (allowed, disallowed) = (special_set(allowed), special_set(disallowed));
        let ids = py
            .allow_threads(|| self.inner.encode(text, &allowed, &disallowed))
            .map_err(to_py)?;
        self.list(py, &ids)
    }

    fn encode_bytes<'py>(&self, py: Python<'py>, data: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let ids = py.allow_threads(|| self.inner.encode_bytes(data));
        self.list(py, &ids)
    }

    #[allow(clippy::type_complexity)]
    fn encode_with_offsets<'py>(
        &self,
        py: Python<'py>,
        text: &str,
        allowed: Vec<String>,
        disallowed: Vec<String>,
    ) -> PyResult<(Bound<'py, PyList>, Vec<(usize, usize)>)> {
        let (allowed, disallowed) = (special_set(allowed), special_set(disallowed));
        let (ids, offsets) = py
            .allow_threads(|| self.inner.encode_with_offsets(text, &allowed, &disallowed))
            .map_err(to_py)?;
        Ok((self.list(py, &ids)?, offsets))
    }

    /// `encode` of each text in parallel, on `num_threads` threads (default: all cores).
    #[pyo3(signature = (texts, allowed, disallowed, num_threads=None))]
    fn encode_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        allowed: Vec<String>,
        disallowed: Vec<String>,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let (allowed, disallowed) = (special_set(allowed), special_set(disallowed));
        let batch = map_texts(py, &texts, num_threads, |text| {
            self.inner.encode(text, &allowed, &disallowed)
        })?
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(to_py)?;
        self.ids.lists(py, &batch, threads(num_threads))
    }

    /// `encode_ordinary` of each text in parallel, on `num_threads` threads (default: all cores).
    #[pyo3(signature = (texts, num_threads=None))]
    fn encode_ordinary_batch<'py>(
        &self,
        py: Python<'py>,
        texts: Vec<Bound<'py, PyString>>,
        num_threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyList>> {
        let batch = map_texts(py, &texts, num_threads, |text| {
            self.inner.encode_ordinary(text)
        })?;
        self.ids.lists(py, &batch, threads(num_threads))
    }

    /// The bytes of `ids` (a list, or any iterable of ints).
    fn decode_bytes<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let ids = extract_ids(ids)?;
        let decoder = self.inner.decoder();
        let len = decoder.decoded_len(&ids).map_err(to_py)?;
        // Written straight into the new bytes object, which no other code can see yet.
        PyBytes::new_with(py, len, |out| {
            py.allow_threads(|| decoder.write(&ids, out));
            Ok(())
        })
    }

    fn token_to_id(&self, token: &[u8]) -> Option<TokenId> {
        let vocab = self.inner.vocab();
        vocab.id_of(token).or_else(|| {
            std::str::from_utf8(token)
                .ok()
                .and_then(|s| vocab.special_id(s))
        })
    }

    fn id_to_token<'py>(&self, py: Python<'py>, id: TokenId) -> Option<Bound<'py, PyBytes>> {
        self.inner
            .vocab()
            .token_bytes(id)
            .map(|b| PyBytes::new(py, b))
    }

    fn is_special(&self, id: TokenId) -> bool {
        self.inner.vocab().is_special(id)
    }

    fn tokens<'py>(&self, py: Python<'py>) -> Vec<Option<Bound<'py, PyBytes>>> {
        let vocab = self.inner.vocab();
        (0..vocab.len() as TokenId)
            .map(|id| vocab.token_bytes(id).map(|b| PyBytes::new(py, b)))
            .collect()
    }

    /// The first `n` ids as a tokenizer of their own (nested vocabularies).
    fn prefix(&self, n: usize) -> PyResult<Tokenizer> {
        let vocab = shaping::prefix_vocab(self.inner.vocab(), n).map_err(to_py)?;
        self.with_vocab(vocab)
    }

    /// This tokenizer with `names` appended as special tokens after the largest id.
    fn with_special_tokens(&self, names: Vec<String>) -> PyResult<Tokenizer> {
        let vocab = shaping::append_specials(self.inner.vocab(), &names).map_err(to_py)?;
        self.with_vocab(vocab)
    }

    /// This tokenizer padded with `<|reserved_N|>` specials to a multiple or a power of two.
    #[pyo3(signature = (multiple=None, power_of_two=false))]
    fn padded(&self, multiple: Option<usize>, power_of_two: bool) -> PyResult<Tokenizer> {
        let padding = match (multiple, power_of_two) {
            (Some(m), false) => Padding::Multiple(m),
            (None, true) => Padding::PowerOfTwo,
            _ => {
                return Err(PyValueError::new_err(
                    "padding: give exactly one of multiple and power_of_two",
                ))
            }
        };
        let names = shaping::reserved_names(self.inner.vocab(), padding).map_err(to_py)?;
        self.with_special_tokens(names)
    }

    fn __repr__(&self) -> String {
        format!(
            "_core.Tokenizer(vocab_size={}, pretokenizer={:?})",
            self.inner.vocab().len(),
            self.inner.pretokenizer().spec()
        )
    }
}

impl Tokenizer {
    pub(crate) fn wrap(inner: toksmith_engine::Tokenizer) -> Self {
        let ids = Python::with_gil(|py| IdObjects::new(py, inner.vocab().len()));
        Tokenizer { inner, ids }
    }

    fn list<'py>(&self, py: Python<'py>, ids: &[TokenId]) -> PyResult<Bound<'py, PyList>> {
        self.ids.list(py, ids, threads(None))
    }

    fn with_vocab(&self, vocab: toksmith_engine::Vocab) -> PyResult<Tokenizer> {
        let inner = toksmith_engine::Tokenizer::new(
            vocab,
            self.inner.pretokenizer().clone(),
            self.inner.normalizer(),
        )
        .map_err(to_py)?
        .with_ignore_merges(self.inner.ignore_merges());
        Ok(Tokenizer::wrap(inner))
    }
}

/// The threads a call may use: `num_threads`, or all of the global pool's.
fn threads(num_threads: Option<usize>) -> usize {
    num_threads.unwrap_or_else(rayon::current_num_threads)
}

/// Run `work` on the global pool (all cores), or on a pool of `num_threads` threads.
pub(crate) fn on_threads<T: Send>(
    num_threads: Option<usize>,
    work: impl FnOnce() -> T + Send,
) -> PyResult<T> {
    let Some(n) = num_threads else {
        return Ok(work());
    };
    if n == 0 {
        return Err(PyValueError::new_err("num_threads must be >= 1, got 0"));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| PyValueError::new_err(format!("cannot start {n} threads: {e}")))?;
    Ok(pool.install(work))
}
