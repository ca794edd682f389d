//! A read-mostly hash table whose lookups touch one cache line.
//!
//! Encoding is a stream of independent lookups into tables of a few hundred thousand entries
//! (the pair table, the whole-token index): megabytes, so most probes miss the L1/L2 caches and
//! the lookup's cost is the number of cache lines it waits for. A general-purpose Swiss table
//! reads a control group and then the entry, two lines apart. Here a bucket is one 64-byte line
//! holding `N` keys and their values side by side; a lookup hashes to a bucket, compares the
//! keys in that line, and stops at the first empty key. Only a full bucket sends a probe on to
//! the next (adjacent) line, and the table is sized so that few are full.
//!
//! Keys are fixed-width integers with one value reserved as "empty" ([`Key::EMPTY`]), which the
//! callers guarantee never to insert (a packed piece has a length byte below 0xFF, a packed pair
//! never holds the `u32::MAX` id). Bucket indices come from the hash by multiply-shift, so the
//! bucket count need not be a power of two and the load can be chosen freely. Lookups can be
//! announced ahead with [`LineTable::prefetch`] so that the line is in cache when needed.
//!
//! Lookups that mostly miss (the pair table on random letters or base64, where most adjacent
//! tokens have no merge) would each wait for a line from L3 or memory. A table can carry a
//! blocked Bloom filter ([`LineTable::with_filter`]): two bits in one 64-bit word per key, a few
//! bits per key in all, small enough to stay in L2. A key whose bits are not both set is absent
//! without touching the buckets.

use crate::hugemem::HugeArray;

/// A fixed-width key with a reserved empty value.
pub(crate) trait Key: Copy + Eq {
    const EMPTY: Self;
    /// A well-mixed 64-bit hash.
    fn hash(self) -> u64;
}

/// The 128-bit product folded to 64 bits: one multiply, every input bit reaches the high bits.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;
const SEED2: u64 = 0xd6e8_feb8_6659_fd93;

impl Key for u64 {
    const EMPTY: u64 = u64::MAX;
    #[inline(always)]
    fn hash(self) -> u64 {
        fold_mul(self ^ SEED2, SEED)
    }
}

impl Key for u128 {
    const EMPTY: u128 = u128::MAX;
    #[inline(always)]
    fn hash(self) -> u64 {
        fold_mul((self as u64) ^ SEED2, ((self >> 64) as u64) ^ SEED)
    }
}

/// One cache line of `N` keys and their values (the layouts used are checked to be 64 bytes).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Bucket<K, V, const N: usize> {
    keys: [K; N],
    vals: [V; N],
}

/// Entries per bucket over bucket capacity at build time.
const LOAD: f64 = 0.7;

/// An open-addressing table of `N`-entry buckets; see the module docs.
pub(crate) struct LineTable<K, V, const N: usize> {
    buckets: HugeArray<Bucket<K, V, N>>,
    len: usize,
    /// Blocked Bloom filter over the keys; empty when the table has none.
    filter: Box<[u64]>,
}

/// The filter word of hash `h` and the two bits a key sets in it. The bucket index uses the
/// high bits of `h` (multiply-shift); these use the low and middle ones.
#[inline(always)]
fn filter_slot(h: u64, words: usize) -> (usize, u64) {
    let word = ((h & 0xffff_ffff) * words as u64) >> 32;
    let bits = (1u64 << ((h >> 32) & 63)) | (1u64 << ((h >> 38) & 63));
    (word as usize, bits)
}

impl<K: Key, V: Copy, const N: usize> Clone for LineTable<K, V, N> {
    fn clone(&self) -> Self {
        LineTable {
            buckets: self.buckets.clone(),
            len: self.len,
            filter: self.filter.clone(),
        }
    }
}

impl<K: Key, V: Copy + Default, const N: usize> LineTable<K, V, N> {
    /// An empty table for `capacity` entries; it grows when filled beyond that.
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        let n_buckets = ((capacity as f64 / (N as f64 * LOAD)).ceil() as usize).max(1);
        let empty = Bucket {
            keys: [K::EMPTY; N],
            vals: [V::default(); N],
        };
        LineTable {
            buckets: HugeArray::new(n_buckets, empty),
            len: 0,
            filter: Box::default(),
        }
    }

    /// Add a Bloom filter of about `bits_per_key` bits per stored key, kept up to date by
    /// later inserts (sized for the current length: call it once the table is built).
    pub(crate) fn with_filter(mut self, bits_per_key: usize) -> Self {
        let words = (self.len * bits_per_key).div_ceil(64).max(1);
        self.filter = vec![0; words].into_boxed_slice();
        let keys: Vec<K> = self.keys().collect();
        for k in keys {
            self.mark(k);
        }
        self
    }

    fn keys(&self) -> impl Iterator<Item = K> + '_ {
        self.buckets
            .iter()
            .flat_map(|b| b.keys.iter().copied())
            .filter(|&k| k != K::EMPTY)
    }

    fn mark(&mut self, key: K) {
        if !self.filter.is_empty() {
            let (word, bits) = filter_slot(key.hash(), self.filter.len());
            self.filter[word] |= bits;
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The bucket of hash `h`: multiply-shift maps it onto [0, n_buckets) without a
    /// power-of-two size.
    #[inline(always)]
    fn home(&self, h: u64) -> usize {
        ((u128::from(h) * self.buckets.len() as u128) >> 64) as usize
    }

    /// The value stored under `key`.
    #[inline(always)]
    pub(crate) fn get(&self, key: K) -> Option<V> {
        let h = key.hash();
        if !self.filter.is_empty() {
            let (word, bits) = filter_slot(h, self.filter.len());
            if self.filter[word] & bits != bits {
                return None;
            }
        }
        let mut b = self.home(h);
        loop {
            let bucket = &self.buckets[b];
            for i in 0..N {
                if bucket.keys[i] == key {
                    return Some(bucket.vals[i]);
                }
                if bucket.keys[i] == K::EMPTY {
                    return None;
                }
            }
            b += 1;
            if b == self.buckets.len() {
                b = 0;
            }
        }
    }

    /// Ask the CPU to start loading the lines a lookup of `key` reads: its filter word, if the
    /// table has a filter, and its bucket (a no-op where prefetching is unavailable).
    #[inline(always)]
    pub(crate) fn prefetch(&self, key: K) {
        let h = key.hash();
        if !self.filter.is_empty() {
            let (word, _) = filter_slot(h, self.filter.len());
            prefetch_line((&self.filter[word] as *const u64).cast());
        }
        let bucket: *const Bucket<K, V, N> = &self.buckets[self.home(h)];
        prefetch_line(bucket.cast());
    }

    /// Store `val` under `key`, returning the value it replaces. `key` must not be `K::EMPTY`.
    pub(crate) fn insert(&mut self, key: K, val: V) -> Option<V> {
        debug_assert!(key != K::EMPTY, "the empty key cannot be stored");
        // Keep at least one empty slot in reach of every probe (lookups stop at one).
        if (self.len + 1) as f64 > self.buckets.len() as f64 * N as f64 * 0.9 {
            self.grow();
        }
        let mut b = self.home(key.hash());
        loop {
            let bucket = &mut self.buckets[b];
            for i in 0..N {
                if bucket.keys[i] == key {
                    return Some(std::mem::replace(&mut bucket.vals[i], val));
                }
                if bucket.keys[i] == K::EMPTY {
                    bucket.keys[i] = key;
                    bucket.vals[i] = val;
                    self.len += 1;
                    self.mark(key);
                    return None;
                }
            }
            b += 1;
            if b == self.buckets.len() {
                b = 0;
            }
        }
    }

    fn grow(&mut self) {
        let mut bigger = Self::with_capacity(self.len * 2 + N);
        for bucket in self.buckets.iter() {
            for (&k, &v) in bucket.keys.iter().zip(&bucket.vals) {
                if k != K::EMPTY {
                    bigger.insert(k, v);
                }
            }
        }
        if !self.filter.is_empty() {
            let bits_per_key = self.filter.len() * 64 / self.len.max(1);
            bigger = bigger.with_filter(bits_per_key.max(1));
        }
        *self = bigger;
    }
}

impl<K, V, const N: usize> std::fmt::Debug for LineTable<K, V, N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineTable")
            .field("len", &self.len)
            .field("buckets", &self.buckets.len())
            .finish()
    }
}

/// Start loading the cache line at `p` (x86-64: `prefetcht0`; elsewhere nothing). A hint: it
/// never faults, whatever the address. Public for the bindings' id lists.
#[inline(always)]
pub fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching is a hint; it never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Whether `N` entries of `K` and `V` fill one line (checked at compile time by the users).
pub(crate) const fn fits_line<K, V, const N: usize>() -> bool {
    std::mem::size_of::<Bucket<K, V, N>>() == 64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn agrees_with_a_hashmap_through_growth_and_replacement() {
        let mut table: LineTable<u64, u32, 5> = LineTable::with_capacity(10);
        let mut reference = HashMap::new();
        let mut x: u64 = 1;
        for i in 0..20_000u32 {
            // A mix of sequential-looking and scattered keys, with repeats.
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = if i % 3 == 0 { u64::from(i / 2) } else { x >> 7 };
            assert_eq!(table.insert(key, i), reference.insert(key, i));
        }
        assert_eq!(table.len(), reference.len());
        for (&k, &v) in &reference {
            assert_eq!(table.get(k), Some(v));
        }
        for k in [u64::MAX - 1, 1 << 40, 123_456_789_012] {
            assert_eq!(table.get(k), reference.get(&k).copied());
        }
        // A filter never hides a key, before or after later inserts and growth.
        let mut filtered = table.clone().with_filter(6);
        for k in 0..5_000u64 {
            filtered.insert(k << 20, 7);
        }
        for (&k, &v) in &reference {
            let want = if k.trailing_zeros() >= 20 && k >> 20 < 5_000 {
                7
            } else {
                v
            };
            assert_eq!(filtered.get(k), Some(want));
        }
        let absent = (1..10_000u64).filter(|k| filtered.get(k * 977 + 3).is_none());
        assert!(
            absent.count() > 9_000,
            "the filter or the table answers misses"
        );
    }

    #[test]
    fn grows_from_one_bucket() {
        let mut table: LineTable<u128, u32, 3> = LineTable::with_capacity(1);
        for k in 0..50u128 {
            table.insert(k << 64 | k, k as u32);
        }
        for k in 0..50u128 {
            assert_eq!(table.get(k << 64 | k), Some(k as u32));
        }
        assert_eq!(table.get(7), None);
    }
}
