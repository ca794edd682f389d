//! Fast conversion between engine id vectors and Python lists of ints.
//!
//! A list of `n` ints normally costs `n` int allocations (CPython interns only -5..=256): for a
//! 20 MB text that is 5 million objects, about a third of the time of the BPE itself. A tokenizer
//! instead keeps one int object per vocabulary id, each made when first needed (at most ~6 MB for
//! 200k ids), and fills result lists with new references to those. Reading ids walks a list in place.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList};
use std::sync::{Mutex, TryLockError};
use toksmith_engine::encode::prefetch_line as prefetch;
use toksmith_engine::TokenId;

/// How far ahead [`IdObjects::list`] prefetches.
const AHEAD: usize = 8;

fn int(py: Python<'_>, id: TokenId) -> Bound<'_, PyInt> {
    let Ok(obj) = id.into_pyobject(py);
    obj
}

/// One Python int per id, each made the first time it is needed (so a first call pays only for
/// the ids it uses, not for the whole vocabulary).
#[derive(Default)]
pub(crate) struct IdObjects(Mutex<Vec<Option<Py<PyInt>>>>);

impl IdObjects {
    /// `ids` as a Python list; `len` is the vocabulary size (ids beyond it get fresh ints).
    pub(crate) fn list<'py>(
        &self,
        py: Python<'py>,
        len: usize,
        ids: &[TokenId],
    ) -> PyResult<Bound<'py, PyList>> {
        // Only code holding the GIL takes this lock. Building the list can run a garbage
        // collection, whose finalizers may encode again on this thread: then the lock is taken
        // and that inner call simply makes fresh ints. A poisoned lock still holds valid ints.
        let mut objects = match self.0.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return PyList::new(py, ids.iter().map(|&id| int(py, id)));
            }
        };
        if objects.len() < len {
            objects.resize_with(len, || None);
        }
        // Filled straight from the iterator (exact size), without an intermediate vector. Taking
        // a reference writes to the int object, a cache miss for rare ids: the slot of the id
        // `2 * AHEAD` places on and the object of the id `AHEAD` places on are prefetched.
        PyList::new(
            py,
            ids.iter().enumerate().map(|(i, &id)| {
                if let Some(&far) = ids.get(i + 2 * AHEAD) {
                    prefetch(objects.as_ptr().wrapping_add(far as usize).cast());
                }
                if let Some(Some(near)) = ids.get(i + AHEAD).and_then(|&n| objects.get(n as usize))
                {
                    prefetch(near.as_ptr().cast());
                }
                match objects.get_mut(id as usize) {
                    Some(slot) => slot
                        .get_or_insert_with(|| int(py, id).unbind())
                        .bind(py)
                        .clone(),
                    None => int(py, id),
                }
            }),
        )
    }

    /// A list of lists, one per id vector.
    pub(crate) fn lists<'py>(
        &self,
        py: Python<'py>,
        len: usize,
        batch: &[Vec<TokenId>],
    ) -> PyResult<Bound<'py, PyList>> {
        let lists = batch
            .iter()
            .map(|ids| self.list(py, len, ids))
            .collect::<PyResult<Vec<_>>>()?;
        PyList::new(py, lists)
    }
}

/// The ids in a list (fast path) or any iterable of ints, with an error naming a bad element.
pub(crate) fn extract_ids(obj: &Bound<'_, PyAny>) -> PyResult<Vec<TokenId>> {
    let convert = |i: usize, item: Bound<'_, PyAny>| -> PyResult<TokenId> {
        item.extract::<TokenId>().map_err(|_| {
            let shown = item
                .repr()
                .map_or_else(|_| "?".to_string(), |r| r.to_string());
            PyValueError::new_err(format!(
                "ids[{i}] = {shown} is not a token id (an int in 0..2**32)"
            ))
        })
    };
    if let Ok(list) = obj.downcast::<PyList>() {
        return list_ids(list, convert);
    }
    let iter = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err("ids must be an iterable of ints"))?;
    iter.enumerate()
        .map(|(i, item)| convert(i, item?))
        .collect()
}

/// A list's ids through the C API: one borrowed read and one unsigned conversion per item (the
/// generic extraction costs several times as much); any failure is re-done by `convert` to
/// produce the error message.
fn list_ids(
    list: &Bound<'_, PyList>,
    convert: impl Fn(usize, Bound<'_, PyAny>) -> PyResult<TokenId>,
) -> PyResult<Vec<TokenId>> {
    let py = list.py();
    let n = list.len();
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        // SAFETY: `list` is a live list and `i < n`; the GIL is held and nothing here runs Python
        // code that could shrink the list (int conversion of an exact int does not call back).
        // The int `AHEAD` places on is prefetched (reading each int is otherwise a cache miss
        // for rare ids).
        let value = unsafe {
            if i + AHEAD < n {
                prefetch(ffi::PyList_GetItem(list.as_ptr(), (i + AHEAD) as ffi::Py_ssize_t).cast());
            }
            let item = ffi::PyList_GetItem(list.as_ptr(), i as ffi::Py_ssize_t);
            if item.is_null() || ffi::PyLong_CheckExact(item) == 0 {
                None
            } else {
                Some(ffi::PyLong_AsUnsignedLong(item))
            }
        };
        match value.and_then(|v| TokenId::try_from(v).ok()) {
            Some(id) if id != TokenId::MAX || PyErr::take(py).is_none() => out.push(id),
            _ => {
                PyErr::take(py);
                out.push(convert(i, list.get_item(i)?)?);
            }
        }
    }
    Ok(out)
}
