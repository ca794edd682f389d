//! Fast conversion between engine id vectors and Python lists of ints.
//!
//! A list of `n` ints normally costs `n` int allocations (CPython interns only -5..=256): for a
//! 20 MB text that is 5 million objects, about a third of the time of the BPE itself. A tokenizer
//! instead keeps one int object per vocabulary id, all made when it is built (about 6 MB for
//! 200k ids, a few milliseconds once), and fills result lists with new references to those.
//! Reading ids walks a list in place.
//!
//! **Filling on several threads.** A list slot takes a pointer and its int a new reference, and
//! reference counts may only be changed under the GIL. So a large fill is shared out in
//! stretches of slots, claimed by the thread holding the GIL and rayon helpers
//! ([`toksmith_engine::share::share_out`]): each stores the int pointers into the new list's
//! item array (plain memory: no Python code can see the list yet, and none runs while the GIL
//! holder waits) and counts how often each id occurs. Back on the GIL thread, each int met then
//! takes its count of references at once (a pass over the distinct ids, a few thousand for a
//! megabyte of random text). The fresh list's pages are also first touched by several threads.
//! On the 1 MiB pathological inputs (640k-720k ids) the list phase went from about 2.6-3.6 to
//! 2.2-2.7 ms on two threads. A pool worker that is busy, or waiting for the GIL (counting
//! reports progress to Python from the workers), cannot hold the fill up: the GIL thread waits
//! only for stretches a helper has claimed. (Until 2d71faf the helpers were scoped threads
//! started per fill; the pool's helpers measured the same, without starting a thread.)
//!
//! The module is built for one CPython version (not the limited API, `abi3`): there a new
//! reference and a list slot are an increment and a store, where the limited API makes both
//! function calls (a megabyte of random letters, base64 or CJK, 640k-670k ids, encodes from
//! Python 8-17% faster this way).

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyInt, PyList};
use std::sync::Mutex;
use toksmith_engine::encode::prefetch_line as prefetch;
use toksmith_engine::share::share_out;
use toksmith_engine::TokenId;

/// How far ahead reading a list's ids prefetches the int objects.
const READ_AHEAD: usize = 24;
/// How far ahead a fill prefetches the int object (on one thread) or the count of an id.
const FILL_AHEAD: usize = 32;
/// Fewer ids than this per thread are not worth a helper thread (starting one costs tens of
/// microseconds).
const IDS_PER_THREAD: usize = 1 << 17;

/// One Python int per vocabulary id, made when the tokenizer is built.
pub(crate) struct IdObjects {
    objects: Vec<Py<PyInt>>,
    /// The tallies of the last parallel fill, kept for the next (their count arrays are as long
    /// as the vocabulary, and fresh ones would be paged in again).
    spare: Mutex<Vec<Tally>>,
}

/// A new list with room for `len` items that still holds none: its length stays 0, so neither
/// the collector (which walks a list's items up to its length) nor a `drop` reads the slots,
/// until [`Unfilled::filled`] declares every slot owned.
///
/// The slots are `PyMem_Malloc`'d (as CPython's own lists are, so the list frees them) but not
/// zeroed: `PyList_New(n)` zeroes its `n` slots on the GIL thread, and for a batch of 20 MB of
/// text (40 MB of slots, most of it fresh pages) that alone took a seventh of the batch, on one
/// thread while the other waited. Left unzeroed, the pages are first touched by the fill, shared
/// out over the threads.
struct Unfilled<'py> {
    list: Bound<'py, PyList>,
    len: usize,
}

impl<'py> Unfilled<'py> {
    fn new(py: Python<'py>, len: usize) -> PyResult<Self> {
        let too_many = || PyValueError::new_err("too many ids for one Python list");
        let size = ffi::Py_ssize_t::try_from(len).map_err(|_| too_many())?;
        let bytes = len
            .checked_mul(std::mem::size_of::<*mut ffi::PyObject>())
            .filter(|&b| ffi::Py_ssize_t::try_from(b).is_ok())
            .ok_or_else(too_many)?;
        // SAFETY: the GIL is held; `PyList_New` returns a new reference or NULL with an
        // exception set.
        let list = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyList_New(0))? };
        let list = list.downcast_into::<PyList>()?;
        if len > 0 {
            // SAFETY: the GIL is held. `list` is an exact, empty list that no other code has
            // seen: it owns no item array yet (`ob_item` is NULL), and it takes this one, of
            // `allocated = len` slots, with its length left at 0.
            unsafe {
                let slots = ffi::PyMem_Malloc(bytes).cast::<*mut ffi::PyObject>();
                if slots.is_null() {
                    return Err(pyo3::exceptions::PyMemoryError::new_err(format!(
                        "cannot allocate a list of {len} ids"
                    )));
                }
                let raw = list.as_ptr().cast::<ffi::PyListObject>();
                (*raw).ob_item = slots;
                (*raw).allocated = size;
            }
        }
        Ok(Unfilled { list, len })
    }

    /// The item array: `len` slots for the fill to write.
    fn items(&self) -> *mut *mut ffi::PyObject {
        // SAFETY: `list` is an exact list (made by `PyList_New`), so it is a `PyListObject`.
        unsafe { (*self.list.as_ptr().cast::<ffi::PyListObject>()).ob_item }
    }

    /// The list, its length now `len`.
    ///
    /// # Safety
    /// Every slot holds an owned reference to an object.
    unsafe fn filled(self) -> Bound<'py, PyList> {
        let raw = self.list.as_ptr().cast::<ffi::PyVarObject>();
        // SAFETY: `len` fits `Py_ssize_t` (checked in `new`); the caller vouches for the slots.
        unsafe { (*raw).ob_size = self.len as ffi::Py_ssize_t };
        self.list
    }
}

/// Ids bound for consecutive slots of one list, from `items` on.
#[derive(Clone, Copy)]
struct Run<'a> {
    items: Slots,
    ids: &'a [TokenId],
}

/// Slots of a list's item array, shared with the helper threads of one fill. Every thread
/// writes disjoint slots, and the list is not visible to Python code until the fill is over.
#[derive(Clone, Copy)]
struct Slots(*mut *mut ffi::PyObject);

// SAFETY: see `Slots`: the pointer is only written at distinct offsets by the threads of one
// fill, which all end before the list is handed to Python.
unsafe impl Send for Slots {}
unsafe impl Sync for Slots {}

impl IdObjects {
    /// Ints for the ids `0..len`.
    pub(crate) fn new(py: Python<'_>, len: usize) -> Self {
        IdObjects {
            objects: (0..len).map(|id| int(py, id)).collect(),
            spare: Mutex::default(),
        }
    }

    /// `ids` as a Python list, filled on up to `threads` threads.
    pub(crate) fn list<'py>(
        &self,
        py: Python<'py>,
        ids: &[TokenId],
        threads: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        self.list_of_runs(py, &[ids], threads)
    }

    /// One list of the ids of consecutive `runs` (as if joined first).
    pub(crate) fn list_of_runs<'py, R: AsRef<[TokenId]>>(
        &self,
        py: Python<'py>,
        runs: &[R],
        threads: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let list = Unfilled::new(py, runs.iter().map(|r| r.as_ref().len()).sum())?;
        let mut at = 0;
        let runs: Vec<Run<'_>> = runs
            .iter()
            .map(|r| {
                let ids = r.as_ref();
                // `at` stays within the list's length, the sum of the runs' lengths.
                let run = Run {
                    items: Slots(list.items().wrapping_add(at)),
                    ids,
                };
                at += ids.len();
                run
            })
            .collect();
        self.fill(py, &runs, threads);
        // SAFETY: the fill gave every slot an owned reference.
        Ok(unsafe { list.filled() })
    }

    /// A list of lists, one per id vector, filled on up to `threads` threads.
    ///
    /// Every list is allocated before any is filled. Allocating lists is what triggers CPython's
    /// young-generation collections, which walk every item of every young list: done the other
    /// way round, each collection in a large batch re-read a few million just-written ids (~40 ms
    /// each on 20 MB of text, a tenth of the batch). The lists such collections promote now hold
    /// nothing yet.
    pub(crate) fn lists<'py>(
        &self,
        py: Python<'py>,
        batch: &[Vec<TokenId>],
        threads: usize,
    ) -> PyResult<Bound<'py, PyList>> {
        let lists = batch
            .iter()
            .map(|ids| Unfilled::new(py, ids.len()))
            .collect::<PyResult<Vec<_>>>()?;
        let runs: Vec<Run<'_>> = lists
            .iter()
            .zip(batch)
            .map(|(list, ids)| Run {
                items: Slots(list.items()),
                ids,
            })
            .collect();
        self.fill(py, &runs, threads);
        let outer = Unfilled::new(py, lists.len())?;
        for (i, list) in lists.into_iter().enumerate() {
            // SAFETY: the fill gave every slot of `list` an owned reference; slot `i` of `outer`
            // is in range and takes the list's.
            unsafe { *outer.items().add(i) = list.filled().into_ptr() };
        }
        // SAFETY: every slot of `outer` was just given a list.
        Ok(unsafe { outer.filled() })
    }

    /// Fills the empty slots that `runs` name with the int objects of their ids.
    fn fill(&self, py: Python<'_>, runs: &[Run<'_>], threads: usize) {
        let total: usize = runs.iter().map(|r| r.ids.len()).sum();
        let threads = threads.min(total / IDS_PER_THREAD).max(1);
        if threads == 1 {
            return self.fill_here(py, runs);
        }
        let stretches: Vec<Vec<Run<'_>>> = (0..threads)
            .map(|k| stretch(runs, total * k / threads, total * (k + 1) / threads))
            .collect();
        let spare: Vec<Mutex<Option<Tally>>> = self
            .spare_tallies(threads)
            .into_iter()
            .map(|tally| Mutex::new(Some(tally)))
            .collect();
        let objects = &self.objects;
        let mut tallies = share_out(threads, |k| {
            let mut tally = spare[k]
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
                .expect("each stretch is claimed once");
            tally.store(objects, &stretches[k]);
            tally
        });
        // Ids beyond the vocabulary cannot come from the engine (its vocabulary size is the
        // largest id plus one), but a NULL slot must never reach Python.
        let beyond = tallies.iter().any(|t| t.beyond);
        for tally in &mut tallies {
            // SAFETY: the GIL is held (this thread holds it through the whole fill).
            unsafe { tally.take_references(&self.objects) };
        }
        if beyond {
            fresh_ints_beyond(py, self.objects.len(), runs);
        }
        self.keep_tallies(tallies);
    }

    /// `n` tallies (cleared), reusing the ones an earlier fill left.
    fn spare_tallies(&self, n: usize) -> Vec<Tally> {
        let mut spare = match self.spare.try_lock() {
            Ok(mut kept) => std::mem::take(&mut *kept),
            Err(_) => Vec::new(),
        };
        spare.truncate(n);
        let len = self.objects.len();
        spare.resize_with(n, || Tally::new(len));
        spare
    }

    /// Keeps `tallies` (cleared) for the next fill.
    fn keep_tallies(&self, tallies: Vec<Tally>) {
        if let Ok(mut kept) = self.spare.try_lock() {
            *kept = tallies;
        }
    }

    /// [`Self::fill`] on this thread alone: each slot takes its new reference directly.
    fn fill_here(&self, py: Python<'_>, runs: &[Run<'_>]) {
        for run in runs {
            for (i, &id) in run.ids.iter().enumerate() {
                // Taking a reference writes to the int object, a cache miss for rare ids.
                if let Some(near) = run
                    .ids
                    .get(i + FILL_AHEAD)
                    .and_then(|&n| self.objects.get(n as usize))
                {
                    prefetch(near.as_ptr().cast());
                }
                let item = match self.objects.get(id as usize) {
                    Some(object) => {
                        // SAFETY: the GIL is held and the int is alive (this cache holds it);
                        // the list slot owns the new reference.
                        unsafe { ffi::Py_INCREF(object.as_ptr()) };
                        object.as_ptr()
                    }
                    None => int(py, id as usize).into_ptr(),
                };
                // SAFETY: `run.items` names `run.ids.len()` NULL slots of a new list.
                unsafe { *run.items.0.add(i) = item };
            }
        }
    }
}

/// The int object of `id`.
fn int(py: Python<'_>, id: usize) -> Py<PyInt> {
    let Ok(obj) = id.into_pyobject(py);
    obj.unbind()
}

/// The part of `runs` that covers slots `from..to` of their concatenation.
fn stretch<'a>(runs: &[Run<'a>], from: usize, to: usize) -> Vec<Run<'a>> {
    let mut out = Vec::new();
    let mut at = 0;
    for run in runs {
        let (start, end) = (at, at + run.ids.len());
        at = end;
        let (lo, hi) = (from.max(start), to.min(end));
        if lo < hi {
            out.push(Run {
                items: Slots(run.items.0.wrapping_add(lo - start)),
                ids: &run.ids[lo - start..hi - start],
            });
        }
    }
    out
}

/// How often each id occurs in the slots one thread of a fill stored, and which ids those are.
/// Between fills every count is zero.
struct Tally {
    /// Per vocabulary id.
    counts: Vec<u32>,
    /// The ids whose count is not zero.
    seen: Vec<TokenId>,
    /// Whether an id beyond the vocabulary was met (its slot is left NULL).
    beyond: bool,
}

impl Tally {
    fn new(len: usize) -> Self {
        Tally {
            counts: vec![0; len],
            seen: Vec::new(),
            beyond: false,
        }
    }

    /// Stores the int object of each id of `runs` in its slot, without taking a reference (the
    /// helper threads must not touch reference counts), and counts the ids.
    fn store(&mut self, objects: &[Py<PyInt>], runs: &[Run<'_>]) {
        for run in runs {
            for (i, &id) in run.ids.iter().enumerate() {
                if let Some(&far) = run.ids.get(i + FILL_AHEAD) {
                    prefetch(self.counts.as_ptr().wrapping_add(far as usize).cast());
                }
                let object = match (objects.get(id as usize), self.counts.get_mut(id as usize)) {
                    (Some(object), Some(count)) => {
                        if *count == 0 {
                            self.seen.push(id);
                        }
                        *count += 1;
                        object.as_ptr()
                    }
                    _ => {
                        self.beyond = true;
                        std::ptr::null_mut()
                    }
                };
                // SAFETY: `run.items` names `run.ids.len()` slots of a list made for them (see
                // `Slots`); this thread is the only one writing slot `i`.
                unsafe { *run.items.0.add(i) = object };
            }
        }
    }

    /// Gives each counted int its count of new references (one per slot that holds it) and
    /// clears the tally.
    ///
    /// # Safety
    /// The GIL is held.
    unsafe fn take_references(&mut self, objects: &[Py<PyInt>]) {
        for id in self.seen.drain(..) {
            let count = std::mem::take(&mut self.counts[id as usize]);
            let object = objects[id as usize].as_ptr();
            for _ in 0..count {
                // SAFETY: the GIL is held and the int is alive (`objects` holds it).
                unsafe { ffi::Py_INCREF(object) };
            }
        }
        self.beyond = false;
    }
}

/// Fills the slots of ids beyond the vocabulary (left NULL by [`Tally::store`]) with fresh ints.
fn fresh_ints_beyond(py: Python<'_>, len: usize, runs: &[Run<'_>]) {
    for run in runs {
        for (i, &id) in run.ids.iter().enumerate() {
            if id as usize >= len {
                // SAFETY: the slot is NULL (see `Tally::store`); the list takes the new reference.
                unsafe { *run.items.0.add(i) = int(py, id as usize).into_ptr() };
            }
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
