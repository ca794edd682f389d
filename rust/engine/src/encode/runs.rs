//! Long pieces made of few runs: a megabyte of `a`, of spaces, a `=====` rule, padding.
//!
//! Such a piece is held as runs `(token, count)` instead of one node per byte. Each step finds
//! the lowest-ranked pair among the pairs inside runs (`(t, t)`, in runs of two or more) and
//! across run boundaries, and applies it everywhere at once:
//!
//! * `(t, t)` turns each run `t^k` into `u^(k/2)` followed by one `t` when `k` is odd (merging
//!   left to right pairs up positions 0-1, 2-3, ...).
//! * `(l, r)` with `l != r` occurs only where a run of `l` meets a run of `r`; the occurrences
//!   cannot overlap, so each takes one token from both runs.
//!
//! That equals merging the occurrences one at a time, leftmost first, as long as none of those
//! single merges creates a pair ranked at or below the one being applied and no other pair
//! shares its rank (rank ties happen with tiktoken ranks: `(a, aa)` and `(aa, a)` both make
//! `aaa`). Both are checked; when either happens, or the piece turns out to have many runs, the
//! encoder says so and the piece takes the other long-piece paths ([`super::chunks`],
//! [`super::long`]). A step costs one pair lookup per run
//! and the number of steps is about the number of distinct merges applied, so a run of `n`
//! bytes costs `O(log n)` steps of a few runs each, plus writing the output.

use super::{BpeModel, PairMerge, NO_RANK};
use crate::vocab::TokenId;

/// The run path is tried when a piece has at most one run per this many bytes.
pub(super) const BYTES_PER_RUN: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Run {
    id: TokenId,
    count: usize,
}

/// The pair a step applies.
#[derive(Clone, Copy)]
struct Step {
    left: TokenId,
    right: TokenId,
    merge: PairMerge,
}

/// The lowest-ranked pair of a step, if it can be applied everywhere at once.
enum Lowest {
    /// No pair merges: the runs are the encoding.
    Done,
    /// Apply this pair.
    Apply(Step),
    /// Two different pairs share the lowest rank: order matters, use the general path.
    Tied,
}

impl BpeModel {
    /// Encode `piece` through its runs, if it has few and the merges allow it (see the module
    /// docs); `false` (and nothing written) means the caller must use another path.
    pub(super) fn encode_runs(&self, piece: &[u8], out: &mut Vec<TokenId>) -> bool {
        if !has_few_runs(piece) {
            return false;
        }
        let mut runs = Vec::new();
        for &b in piece {
            push_run(&mut runs, self.byte_id(b), 1);
        }
        let mut applied = None;
        loop {
            match self.lowest_pair(&runs) {
                Lowest::Done => break,
                Lowest::Tied => return false,
                Lowest::Apply(step) => {
                    // A pair ranked at or below the last one applied was created by it: merging
                    // one occurrence at a time would have taken that pair first.
                    if applied.is_some_and(|rank| step.merge.rank <= rank) {
                        return false;
                    }
                    let Some(merged) = self.apply(&runs, step) else {
                        return false;
                    };
                    runs = merged;
                    applied = Some(step.merge.rank);
                }
            }
        }
        for r in &runs {
            out.resize(out.len() + r.count, r.id);
        }
        true
    }

    /// The lowest-ranked pair among those inside runs of two or more and across boundaries.
    fn lowest_pair(&self, runs: &[Run]) -> Lowest {
        let inside = runs.iter().filter(|r| r.count >= 2).map(|r| (r.id, r.id));
        let across = runs.windows(2).map(|w| (w[0].id, w[1].id));
        let mut best: Option<Step> = None;
        let mut tied = false;
        for (left, right) in inside.chain(across) {
            let merge = self.merge_of(left, right);
            match best {
                Some(b) if merge.rank > b.merge.rank => {}
                Some(b) if merge.rank == b.merge.rank => tied |= (left, right) != (b.left, b.right),
                _ => {
                    best = Some(Step { left, right, merge });
                    tied = false;
                }
            }
        }
        match best {
            Some(b) if b.merge.rank == NO_RANK => Lowest::Done,
            None => Lowest::Done,
            Some(_) if tied => Lowest::Tied,
            Some(b) => Lowest::Apply(b),
        }
    }
}

/// Whether `piece` has at most one run of equal bytes per [`BYTES_PER_RUN`] bytes (stops
/// counting as soon as it has more).
fn has_few_runs(piece: &[u8]) -> bool {
    let limit = piece.len() / BYTES_PER_RUN;
    let mut runs = 1;
    for w in piece.windows(2) {
        if w[0] != w[1] {
            runs += 1;
            if runs > limit {
                return false;
            }
        }
    }
    runs <= limit
}

/// Append `count` copies of `id`, joining the last run when it has the same token.
fn push_run(runs: &mut Vec<Run>, id: TokenId, count: usize) {
    if count == 0 {
        return;
    }
    match runs.last_mut() {
        Some(last) if last.id == id => last.count += count,
        _ => runs.push(Run { id, count }),
    }
}

impl BpeModel {
    /// The runs after merging every occurrence of `step`'s pair (see the module docs), or `None`
    /// if some merge, done one at a time leftmost first, would create a pair ranked at or below
    /// `step`'s: that pair would then go first, and the order would matter.
    fn apply(&self, runs: &[Run], step: Step) -> Option<Vec<Run>> {
        let merged = step.merge.result;
        let rank = step.merge.rank;
        // At each merge, everything to its left is final and everything to its right original.
        let outranks = |left: Option<TokenId>, right: Option<TokenId>| {
            left.is_some_and(|l| self.merge_of(l, merged).rank <= rank)
                || right.is_some_and(|r| self.merge_of(merged, r).rank <= rank)
        };
        let mut next: Vec<Run> = Vec::with_capacity(runs.len() + 2);
        if step.left == step.right {
            for (i, r) in runs.iter().enumerate() {
                if r.id != step.left || r.count < 2 {
                    push_run(&mut next, r.id, r.count);
                    continue;
                }
                // Merges pair up positions 0-1, 2-3, ...: the first sees the previous run's
                // token on its left, the later ones `merged`; each sees `l` on its right, but the
                // last of an even run sees the next run's token.
                let (pairs, odd) = (r.count / 2, r.count % 2 == 1);
                let after = if odd {
                    Some(r.id)
                } else {
                    runs.get(i + 1).map(|n| n.id)
                };
                let left = next.last().map(|n| n.id);
                if outranks(left, Some(r.id).filter(|_| pairs > 1 || odd))
                    || (pairs > 1 && outranks(Some(merged), after))
                    || (pairs == 1 && outranks(None, after))
                {
                    return None;
                }
                push_run(&mut next, merged, pairs);
                push_run(&mut next, r.id, r.count % 2);
            }
            return Some(next);
        }
        // `taken`: tokens consumed from the front of the current run by a merge with the run
        // before it.
        let mut taken = 0;
        for (i, r) in runs.iter().enumerate() {
            let count = r.count - taken;
            taken = 0;
            let follower = runs.get(i + 1);
            if r.id != step.left || count == 0 || follower.is_none_or(|n| n.id != step.right) {
                push_run(&mut next, r.id, count);
                continue;
            }
            push_run(&mut next, r.id, count - 1);
            let n = follower.expect("checked above");
            let right = if n.count > 1 {
                Some(n.id)
            } else {
                runs.get(i + 2).map(|m| m.id)
            };
            if outranks(next.last().map(|n| n.id), right) {
                return None;
            }
            push_run(&mut next, merged, 1);
            taken = 1;
        }
        Some(next)
    }
}
