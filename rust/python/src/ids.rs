//! Fast conversion between engine id vectors and Python lists of ints.
//!
//! A list of `n` ints normally costs `n` int allocations (CPython interns only -5..=256): for a
//! 20 MB text that is 5 million objects, about a third of the time of the BPE itself. A tokenizer
//! instead keeps one int object per vocabulary id, each made when first needed (at most ~6 MB for
//! 200k ids), and fills result lists with new references to those. Reading ids walks a list in place.
//!
//! The module is built for one CPython version (not the limited API, `abi3`): there a new
//! reference and a list slot are an increment and a store, where the limited API makes both
//! function calls (a megabyte of random letters, base64 or CJK, 640k-670k ids, encodes from
//! Python 8-17% faster this way).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList};
use std::sync::{Mutex, TryLockError};
use toksmith_engine::encode::prefetch_line as prefetch;
use toksmith_engine::TokenId;

/// How far ahead [`IdObjects::list`] prefetches.
const AHEAD: usize = 32;
/// How far ahead reading a list's ids prefetches the int objects.
const READ_AHEAD: usize = 24;

fn int(py: Python<'_>, id: TokenId) -> Bound<'_, PyInt> {
    let Ok(obj) = id.into_pyobject(py);
    obj
}

/// One Python int per id, each made the first time it is needed (so a first call pays only for
/// the ids it uses, not for the whole vocabulary).
#[derive(Default)]
pub(crate) struct IdObjects(Mutex<Vec<Option<Py<PyInt>>>>);

/// A list of `n` empty (NULL) slots, to be filled before any Python code sees it.
fn empty_list(py: Python<'_>, n: usize) -> PyResult<Bound<'_, PyList>> {
    let n = ffi::Py_ssize_t::try_from(n)
        .map_err(|_| PyValueError::new_err("too many ids for one Python list"))?;
    // SAFETY: the GIL is held; `PyList_New` returns a new reference or NULL with an exception set.
    let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(n))? };
    Ok(list.downcast_into::<PyList>()?)
}

/// Puts `item` in slot `i` of a list from [`empty_list`].
fn set_slot(list: &Bound<'_, PyList>, i: usize, item: Bound<'_, PyAny>) {
    // SAFETY: see `store`; `into_ptr` hands over the reference.
    unsafe { store(list.as_ptr(), i, item.into_ptr()) }
}

/// Puts the owned reference `item` in slot `i` of the list `list` from [`empty_list`].
///
/// # Safety
/// The GIL is held, `i` is below the length the list was made with and the slot is still NULL
/// (so nothing is released), and `item` is a reference the caller owns (the list takes it).
#[inline(always)]
unsafe fn store(list: *mut ffi::PyObject, i: usize, item: *mut ffi::PyObject) {
    ffi::PyList_SET_ITEM(list, i as ffi::Py_ssize_t, item);
}

impl IdObjects {
    /// `ids` as a Python list; `len` is the vocabulary size (ids beyond it get fresh ints).
    pub(crate) fn list<'py>(
        &self,
        py: Python<'py>,
        len: usize,
        ids: &[TokenId],
    ) -> PyResult<Bound<'py, PyList>> {
        self.list_of_runs(py, len, &[ids])
    }

    /// One list of the ids of consecutive `runs` (as if joined first).
    pub(crate) fn list_of_runs<'py, R: AsRef<[TokenId]>>(
        &self,
        py: Python<'py>,
        len: usize,
        runs: &[R],
    ) -> PyResult<Bound<'py, PyList>> {
        let list = empty_list(py, runs.iter().map(|r| r.as_ref().len()).sum())?;
        let mut at = 0;
        for ids in runs.iter().map(AsRef::as_ref) {
            self.fill(py, len, &list, at, ids);
            at += ids.len();
        }
        Ok(list)
    }

    /// A list of lists, one per id vector.
    ///
    /// Every list is allocated before any is filled. Allocating lists is what triggers CPython's
    /// young-generation collections, which walk every item of every young list: done the other
    /// way round, each collection in a large batch re-read a few million just-written ids (~40 ms
    /// each on 20 MB of text, a tenth of the batch). The lists such collections promote now hold
    /// nothing yet.
    pub(crate) fn lists<'py>(
        &self,
        py: Python<'py>,
        len: usize,
        batch: &[Vec<TokenId>],
    ) -> PyResult<Bound<'py, PyList>> {
        let lists = batch
            .iter()
            .map(|ids| empty_list(py, ids.len()))
            .collect::<PyResult<Vec<_>>>()?;
        let outer = empty_list(py, lists.len())?;
        for (i, (list, ids)) in lists.into_iter().zip(batch).enumerate() {
            self.fill(py, len, &list, 0, ids);
            set_slot(&outer, i, list.into_any());
        }
        Ok(outer)
    }

    /// Fills the empty slots `at..at + ids.len()` of `list` with the int objects of `ids`.
    fn fill(
        &self,
        py: Python<'_>,
        len: usize,
        list: &Bound<'_, PyList>,
        at: usize,
        ids: &[TokenId],
    ) {
        // Only code holding the GIL takes this lock, and nothing below runs Python code (making
        // an int does not collect), but a collection's finalizer may encode again on this thread
        // while an outer call holds the lock: that inner call makes fresh ints. A poisoned lock
        // still holds valid ints.
        let mut objects = match self.0.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                for (i, &id) in ids.iter().enumerate() {
                    set_slot(list, at + i, int(py, id).into_any());
                }
                return;
            }
        };
        if objects.len() < len {
            objects.resize_with(len, || None);
        }
        for (i, &id) in ids.iter().enumerate() {
            // Taking a reference writes to the int object, a cache miss for rare ids: the slot
            // of the id `2 * AHEAD` places on and the object of the id `AHEAD` places on are
            // prefetched.
            if let Some(&far) = ids.get(i + 2 * AHEAD) {
                prefetch(objects.as_ptr().wrapping_add(far as usize).cast());
            }
            if let Some(Some(near)) = ids.get(i + AHEAD).and_then(|&n| objects.get(n as usize)) {
                prefetch(near.as_ptr().cast());
            }
            let item = match objects.get_mut(id as usize) {
                Some(slot) => {
                    let obj = slot.get_or_insert_with(|| int(py, id).unbind()).as_ptr();
                    // SAFETY: the GIL is held and `obj` is alive (the cache holds it); this is
                    // the new reference the list takes.
                    unsafe { ffi::Py_INCREF(obj) };
                    obj
                }
                None => int(py, id).into_ptr(),
            };
            // SAFETY: as for `set_slot`: slot `at + i` of the list is NULL and in range.
            unsafe { store(list.as_ptr(), at + i, item) };
        }
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
        // The int `READ_AHEAD` places on is prefetched (reading each int is otherwise a cache
        // miss for rare ids).
        let value = unsafe {
            if i + READ_AHEAD < n {
                let ahead = (i + READ_AHEAD) as ffi::Py_ssize_t;
                prefetch(ffi::PyList_GetItem(list.as_ptr(), ahead).cast());
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
