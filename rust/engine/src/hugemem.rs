//! Fixed-size arrays that the kernel is asked to back with huge pages.
//!
//! Encoding reads megabyte-sized tables (the pair table, the whole-token index) at random, one
//! line per lookup. With 4 KiB pages each such read also needs a page-table walk once the
//! tables outgrow the second-level TLB (a few thousand entries, 8-12 MiB of reach, shared with
//! the text, the output and the Python heap); with 2 MiB pages a whole table needs a handful of
//! entries. On Linux, an array of at least [`HUGE_FROM`] bytes is therefore allocated 2 MiB
//! aligned, in whole huge pages, and marked `MADV_HUGEPAGE` before its first write (systems
//! with transparent huge pages in `madvise` mode, the common default, only give huge pages to
//! memory so marked). Elsewhere, or when the kernel declines, the memory is ordinary.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The huge page size asked for (x86-64 and most aarch64 kernels).
const HUGE_PAGE: usize = 2 << 20;
/// Arrays from this size on get huge pages (rounded up to whole ones: under 1 MiB of waste,
/// less than the array itself).
const HUGE_FROM: usize = 1 << 20;

/// A boxed slice of `T` whose memory may be backed by huge pages (see the module docs).
pub(crate) struct HugeArray<T> {
    ptr: NonNull<T>,
    len: usize,
    /// The allocation (none for an empty array).
    layout: Option<Layout>,
}

// SAFETY: a `HugeArray` owns its elements exclusively, like a `Box<[T]>`.
unsafe impl<T: Send> Send for HugeArray<T> {}
// SAFETY: shared access only hands out `&[T]`.
unsafe impl<T: Sync> Sync for HugeArray<T> {}

impl<T: Copy> HugeArray<T> {
    /// A copy of `items`.
    pub(crate) fn from_slice(items: &[T]) -> Self {
        match items.first() {
            None => HugeArray::empty(),
            Some(&first) => {
                let mut copy = HugeArray::new(items.len(), first);
                copy.copy_from_slice(items);
                copy
            }
        }
    }

    fn empty() -> Self {
        HugeArray {
            ptr: NonNull::dangling(),
            len: 0,
            layout: None,
        }
    }

    /// `len` copies of `value`.
    pub(crate) fn new(len: usize, value: T) -> Self {
        let bytes = len
            .checked_mul(std::mem::size_of::<T>())
            .expect("array size overflows usize");
        if len == 0 {
            return HugeArray::empty();
        }
        assert!(bytes > 0, "HugeArray of a zero-sized type");
        let huge = cfg!(target_os = "linux") && bytes >= HUGE_FROM;
        let layout = if huge {
            Layout::from_size_align(bytes.next_multiple_of(HUGE_PAGE), HUGE_PAGE)
        } else {
            Layout::array::<T>(len)
        }
        .expect("array layout");
        // SAFETY: `layout` has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else {
            handle_alloc_error(layout)
        };
        if huge {
            advise_huge(raw, layout.size());
        }
        for i in 0..len {
            // SAFETY: `i < len` elements fit in the allocation; `T: Copy` has no drop glue.
            unsafe { ptr.as_ptr().add(i).write(value) };
        }
        HugeArray {
            ptr,
            len,
            layout: Some(layout),
        }
    }
}

/// Ask for huge pages on `len` bytes at `ptr` (2 MiB aligned, not yet written). Only a hint:
/// a kernel without transparent huge pages refuses it, which changes nothing else.
#[cfg(target_os = "linux")]
fn advise_huge(ptr: *mut u8, len: usize) {
    // SAFETY: the range is one live allocation of ours; MADV_HUGEPAGE does not change its
    // contents or validity.
    unsafe {
        libc::madvise(ptr.cast(), len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_ptr: *mut u8, _len: usize) {}

impl<T> Drop for HugeArray<T> {
    fn drop(&mut self) {
        if let Some(layout) = self.layout {
            // SAFETY: allocated in `new` with this layout and not freed since; only `T: Copy`
            // arrays are ever built, so the elements need no drop.
            unsafe { dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

impl<T> Deref for HugeArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `len` initialised elements (or a dangling pointer and `len` zero-sized ones).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> DerefMut for HugeArray<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in `deref`, and `&mut self` is exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy> Clone for HugeArray<T> {
    fn clone(&self) -> Self {
        HugeArray::from_slice(self)
    }
}

impl<T: Copy + std::fmt::Debug> std::fmt::Debug for HugeArray<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HugeArray(len {})", self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_large_empty_and_cloned_arrays_hold_their_values() {
        for len in [0usize, 1, 1000, HUGE_FROM / 8 + 1, HUGE_PAGE / 8 + 3] {
            let mut a = HugeArray::new(len, 7u64);
            assert_eq!(a.len(), len);
            assert!(a.iter().all(|&v| v == 7));
            if len > 0 {
                a[len - 1] = 9;
            }
            let b = a.clone();
            drop(a);
            assert_eq!(b.len(), len);
            assert_eq!(b.last().copied(), (len > 0).then_some(9));
            assert_eq!(b.iter().filter(|&&v| v == 7).count(), len.saturating_sub(1));
        }
    }
}
