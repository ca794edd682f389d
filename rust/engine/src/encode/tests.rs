//! The encoder against brute-force references on random vocabularies.

use super::*;
use crate::vocab::{Merge, SpecialToken};
use proptest::prelude::*;

/// A tiny deterministic generator so that one proptest seed describes a whole vocabulary.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn bytes256() -> Vec<(Vec<u8>, TokenId)> {
    (0..=255u8).map(|b| (vec![b], b as TokenId)).collect()
}

const ALPHABET: &[u8] = b"abc";

/// HF-style vocab: `n` random merges over tokens built from `ALPHABET`.
fn random_merge_vocab(seed: u64, n: usize) -> Vocab {
    let mut rng = Lcg(seed);
    let mut tokens = bytes256();
    let mut pool: Vec<TokenId> = ALPHABET.iter().map(|&b| b as TokenId).collect();
    let mut merges: Vec<(TokenId, TokenId)> = Vec::new();
    for _ in 0..n {
        let (l, r) = (pool[rng.below(pool.len())], pool[rng.below(pool.len())]);
        if merges.contains(&(l, r)) {
            continue;
        }
        let joined = [tokens[l as usize].0.clone(), tokens[r as usize].0.clone()].concat();
        if joined.len() > 12 {
            continue;
        }
        if !tokens.iter().any(|(b, _)| *b == joined) {
            let id = tokens.len() as TokenId;
            tokens.push((joined, id));
            pool.push(id);
        }
        merges.push((l, r));
    }
    Vocab::from_merges(tokens, &merges, vec![]).unwrap()
}

/// tiktoken-style vocab: random strings over `ALPHABET` with shuffled ranks.
fn random_rank_vocab(seed: u64, n: usize) -> Vocab {
    let mut rng = Lcg(seed);
    let mut strings: Vec<Vec<u8>> = Vec::new();
    for _ in 0..n {
        let len = 2 + rng.below(5);
        let s: Vec<u8> = (0..len)
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect();
        if !strings.contains(&s) {
            strings.push(s);
        }
    }
    let mut tokens = bytes256();
    for s in strings {
        let id = tokens.len() as TokenId;
        tokens.push((s, id));
    }
    Vocab::from_ranks(tokens, vec![]).unwrap()
}

/// HF-style vocab "trained" on one random text (each merge joins a random adjacent pair of the
/// text's current tokens, up to 24 bytes), and a piece cut from that text: its tokens are long
/// and nested, so they span several cuts of the chunked path.
fn trained_vocab_and_piece(seed: u64, n: usize) -> (Vocab, Vec<u8>) {
    let mut rng = Lcg(seed);
    let text: Vec<u8> = (0..400)
        .map(|_| ALPHABET[rng.below(ALPHABET.len())])
        .collect();
    let mut tokens = bytes256();
    let mut merges: Vec<(TokenId, TokenId)> = Vec::new();
    let mut ids: Vec<TokenId> = text.iter().map(|&b| b as TokenId).collect();
    for _ in 0..n {
        if ids.len() < 2 {
            break;
        }
        let i = rng.below(ids.len() - 1);
        let (l, r) = (ids[i], ids[i + 1]);
        let joined = [tokens[l as usize].0.clone(), tokens[r as usize].0.clone()].concat();
        if joined.len() > 24 || merges.contains(&(l, r)) || tokens.iter().any(|(b, _)| *b == joined)
        {
            continue;
        }
        let id = tokens.len() as TokenId;
        tokens.push((joined, id));
        merges.push((l, r));
        let mut next = Vec::with_capacity(ids.len());
        let mut k = 0;
        while k < ids.len() {
            if k + 1 < ids.len() && (ids[k], ids[k + 1]) == (l, r) {
                next.push(id);
                k += 2;
            } else {
                next.push(ids[k]);
                k += 1;
            }
        }
        ids = next;
    }
    let at = rng.below(150);
    let piece = text[at..at + SHORT_PIECE + 1 + rng.below(100)].to_vec();
    (Vocab::from_merges(tokens, &merges, vec![]).unwrap(), piece)
}

/// Naive BPE: repeatedly merge the lowest-ranked adjacent pair, leftmost on ties.
fn reference(vocab: &Vocab, piece: &[u8], ignore_merges: bool) -> Vec<TokenId> {
    if ignore_merges && !piece.is_empty() {
        if let Some(id) = vocab.id_of(piece) {
            return vec![id];
        }
    }
    let rank = |l: TokenId, r: TokenId| {
        vocab
            .merges()
            .iter()
            .filter(|m| m.left == l && m.right == r)
            .min_by_key(|m| m.rank)
            .map(|m| (m.rank, m.result))
    };
    let mut ids: Vec<TokenId> = piece.iter().map(|&b| vocab.byte_id(b)).collect();
    loop {
        let mut best: Option<(u32, usize, TokenId)> = None;
        for i in 0..ids.len().saturating_sub(1) {
            if let Some((r, res)) = rank(ids[i], ids[i + 1]) {
                if best.is_none_or(|(br, _, _)| r < br) {
                    best = Some((r, i, res));
                }
            }
        }
        let Some((_, i, res)) = best else { break };
        ids[i] = res;
        ids.remove(i + 1);
    }
    ids
}

/// tiktoken's own definition, on byte ranges: merge the adjacent parts whose concatenation has
/// the lowest rank (= id), leftmost on ties; the whole piece is looked up first.
fn tiktoken_reference(vocab: &Vocab, piece: &[u8]) -> Vec<TokenId> {
    if let Some(id) = vocab.id_of(piece) {
        return vec![id];
    }
    let mut bounds: Vec<usize> = (0..=piece.len()).collect();
    loop {
        let mut best: Option<(TokenId, usize)> = None;
        for i in 0..bounds.len().saturating_sub(2) {
            if let Some(id) = vocab.id_of(&piece[bounds[i]..bounds[i + 2]]) {
                if best.is_none_or(|(b, _)| id < b) {
                    best = Some((id, i));
                }
            }
        }
        let Some((_, i)) = best else { break };
        bounds.remove(i + 1);
    }
    bounds
        .windows(2)
        .map(|w| vocab.id_of(&piece[w[0]..w[1]]).unwrap())
        .collect()
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(prop::sample::select(ALPHABET), 0..40),
        prop::collection::vec(prop::sample::select(ALPHABET), 40..400),
        prop::collection::vec(prop::sample::select(&b"aab"[..]), 0..200),
        prop::collection::vec(any::<u8>(), 0..100),
        prop::collection::vec(any::<u8>(), SHORT_PIECE..400),
    ]
}

/// Pieces longer than [`SHORT_PIECE`] made of a few long runs (the run path's input).
fn runs_input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((prop::sample::select(ALPHABET), 1usize..200), 1..5).prop_map(|runs| {
        let mut piece: Vec<u8> = runs
            .iter()
            .flat_map(|&(b, n)| std::iter::repeat_n(b, n))
            .collect();
        piece.resize(piece.len().max(SHORT_PIECE + 1), b'a');
        piece
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn run_path_matches_the_list_path_and_the_references(seed in any::<u64>(), n in 1usize..80, piece in runs_input(), ranks in any::<bool>()) {
        let vocab = if ranks { random_rank_vocab(seed, n) } else { random_merge_vocab(seed, n) };
        let model = BpeModel::new(&vocab).with_ignore_merges(ranks);
        let mut by_runs = Vec::new();
        if model.encode_runs(&piece, &mut by_runs) {
            let mut by_list = Vec::new();
            model.encode_long(&piece, &mut by_list);
            prop_assert_eq!(&by_runs, &by_list);
        } else {
            prop_assert!(by_runs.is_empty(), "a declined piece writes nothing");
        }
        let want = if ranks { tiktoken_reference(&vocab, &piece) } else { reference(&vocab, &piece, false) };
        prop_assert_eq!(model.encode_piece_to_vec(&piece), want);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chunked_path_matches_the_list_path(seed in any::<u64>(), n in 1usize..80, piece in prop::collection::vec(prop::sample::select(&b"abcab\xe4\xb8\xad"[..]), SHORT_PIECE..900), ranks in any::<bool>()) {
        let vocab = if ranks { random_rank_vocab(seed, n) } else { random_merge_vocab(seed, n) };
        let model = BpeModel::new(&vocab).with_ignore_merges(ranks);
        let (mut chunked, mut listed) = (Vec::new(), Vec::new());
        model.encode_chunked(&piece, &mut chunked);
        model.encode_long(&piece, &mut listed);
        prop_assert_eq!(&chunked, &listed);
        // Pieces of 512 bytes or more are cut into parts of >= 200 bytes in tests: one per
        // thread of the pool.
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let mut in_parts = Vec::new();
        pool.install(|| model.encode_chunked(&piece, &mut in_parts));
        prop_assert_eq!(in_parts, listed);
    }

    #[test]
    fn parts_joined_at_seams_that_merges_cross_match_the_list_path(seed in any::<u64>(), n in 40usize..400, piece in prop::collection::vec(prop::sample::select(ALPHABET), 512..4000), threads in 2usize..5) {
        // Dense vocabularies over three letters: many cuts between chunks and parts are valid
        // pairs, the rest need the windowed repair (wider than the tests' REPAIR_SIDE often).
        let vocab = random_rank_vocab(seed, n);
        let model = BpeModel::new(&vocab).with_ignore_merges(true);
        let mut listed = Vec::new();
        model.encode_long(&piece, &mut listed);
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        let mut in_parts = Vec::new();
        pool.install(|| model.encode_chunked(&piece, &mut in_parts));
        prop_assert_eq!(in_parts, listed);
    }

    #[test]
    fn chunked_path_survives_tokens_spanning_cuts(seed in any::<u64>(), n in 20usize..300) {
        let (vocab, piece) = trained_vocab_and_piece(seed, n);
        let model = BpeModel::new(&vocab);
        let (mut chunked, mut listed) = (Vec::new(), Vec::new());
        model.encode_chunked(&piece, &mut chunked);
        model.encode_long(&piece, &mut listed);
        prop_assert_eq!(&chunked, &listed);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn merges_match_reference(seed in any::<u64>(), n in 1usize..60, piece in input(), ignore in any::<bool>()) {
        let vocab = random_merge_vocab(seed, n);
        let model = BpeModel::new(&vocab).with_ignore_merges(ignore);
        prop_assert_eq!(model.encode_piece_to_vec(&piece), reference(&vocab, &piece, ignore));
    }

    #[test]
    fn ranks_match_tiktoken(seed in any::<u64>(), n in 1usize..80, piece in input()) {
        let vocab = random_rank_vocab(seed, n);
        let model = BpeModel::new(&vocab).with_ignore_merges(true);
        prop_assert!(model.pairs_by_bytes, "rank files' merges are all splits");
        let got = model.encode_piece_to_vec(&piece);
        prop_assert_eq!(&got, &tiktoken_reference(&vocab, &piece));
        prop_assert_eq!(&got, &reference(&vocab, &piece, true));
    }

    #[test]
    fn pieces_merged_in_registers_match_tiktoken(seed in any::<u64>(), n in 1usize..200, piece in prop::collection::vec(prop::sample::select(ALPHABET), 2..=ShortPiece::MAX_LEN), ignore in any::<bool>()) {
        // Dense vocabularies over three letters: pieces of 2 to 7 bytes see several merges.
        let vocab = random_rank_vocab(seed, n);
        let model = BpeModel::new(&vocab).with_ignore_merges(ignore);
        let mut got = Vec::new();
        model.merge_tiny(&piece, &mut got);
        prop_assert_eq!(&got, &reference(&vocab, &piece, false));
        prop_assert_eq!(model.encode_piece_to_vec(&piece), reference(&vocab, &piece, ignore));
        if ignore {
            prop_assert_eq!(model.encode_piece_to_vec(&piece), tiktoken_reference(&vocab, &piece));
        }
    }

    #[test]
    fn streams_encode_pieces_in_order(seed in any::<u64>(), pieces in prop::collection::vec(input(), 0..3 * AHEAD)) {
        let vocab = random_rank_vocab(seed, 40);
        let model = BpeModel::new(&vocab).with_ignore_merges(true);
        let mut streamed = Vec::new();
        let mut stream = PieceStream::new(&model);
        for p in &pieces {
            stream.push(p, &mut streamed);
        }
        stream.finish(&mut streamed);
        let one_by_one: Vec<TokenId> = pieces.iter().flat_map(|p| tiktoken_reference(&vocab, p)).collect();
        prop_assert_eq!(streamed, one_by_one);
    }
}

#[test]
fn memo_hits_and_two_models_in_one_thread_agree_with_the_reference() {
    let (va, vb) = (random_merge_vocab(3, 50), random_rank_vocab(4, 60));
    let (a, b) = (
        BpeModel::new(&va),
        BpeModel::new(&vb).with_ignore_merges(true),
    );
    let mut rng = Lcg(11);
    let pieces: Vec<Vec<u8>> = (0..200)
        .map(|_| {
            (0..2 + rng.below(30))
                .map(|_| ALPHABET[rng.below(3)])
                .collect()
        })
        .collect();
    for _round in 0..3 {
        for p in &pieces {
            assert_eq!(a.encode_piece_to_vec(p), reference(&va, p, false));
            assert_eq!(b.encode_piece_to_vec(p), reference(&vb, p, true));
        }
    }
}

#[test]
fn a_stream_that_closes_and_reopens_the_memo_gate_matches_the_reference() {
    // Distinct pieces (the gate closes), then a few pieces repeated (it reopens and the memo
    // answers), then distinct ones again: every id as tiktoken's.
    let vocab = random_rank_vocab(21, 80);
    let model = BpeModel::new(&vocab).with_ignore_merges(true);
    let mut rng = Lcg(5);
    let mut random_piece = || -> Vec<u8> {
        (0..10 + rng.below(12))
            .map(|_| ALPHABET[rng.below(ALPHABET.len())])
            .collect()
    };
    let distinct: Vec<Vec<u8>> = (0..6000).map(|_| random_piece()).collect();
    let few: Vec<Vec<u8>> = (0..5).map(|_| random_piece()).collect();
    let repeated: Vec<Vec<u8>> = (0..6000).map(|i| few[i % few.len()].clone()).collect();
    let mut streamed = Vec::new();
    let mut stream = PieceStream::new(&model);
    let (mut closed_pushes, mut closed_at_end) = ([0usize; 3], [false; 3]);
    for (phase, pieces) in [&distinct, &repeated, &distinct].into_iter().enumerate() {
        for p in pieces {
            stream.push(p, &mut streamed);
            closed_pushes[phase] += usize::from(stream.gate.is_closed());
        }
        closed_at_end[phase] = stream.gate.is_closed();
    }
    assert!(
        closed_pushes[0] > 4000,
        "distinct pieces close the gate: {closed_pushes:?}"
    );
    assert!(
        closed_pushes[1] < 4200,
        "repeats reopen it: {closed_pushes:?}"
    );
    assert!(!closed_at_end[1], "and keep it open");
    assert!(
        closed_pushes[2] > 4000,
        "distinct pieces close it again: {closed_pushes:?}"
    );
    stream.finish(&mut streamed);
    let expected: Vec<TokenId> = [&distinct, &repeated, &distinct]
        .into_iter()
        .flatten()
        .flat_map(|p| tiktoken_reference(&vocab, p))
        .collect();
    assert_eq!(streamed, expected);
}

#[test]
fn long_runs_use_the_heap_and_match() {
    let vocab = random_merge_vocab(7, 40);
    let model = BpeModel::new(&vocab);
    for len in [SHORT_PIECE - 1, SHORT_PIECE, SHORT_PIECE + 1, 1000] {
        let piece = vec![b'a'; len];
        assert_eq!(
            model.encode_piece_to_vec(&piece),
            reference(&vocab, &piece, false)
        );
    }
    // A run of a single byte is the run path's best case: it must take it.
    assert!(model.encode_runs(&[b'a'; 1000], &mut Vec::new()));
}

#[test]
fn ignore_merges_takes_unreachable_whole_tokens() {
    // "abc" is a token but merges never build it ("ab" then "abc" needs (ab, c), absent).
    let mut toks = bytes256();
    toks.push((b"ab".to_vec(), 256));
    toks.push((b"abc".to_vec(), 257));
    toks.push((b"bc".to_vec(), 258));
    let vocab = Vocab::from_merges(toks, &[(97, 98), (98, 99), (97, 258)], vec![]).unwrap();
    let plain = BpeModel::new(&vocab);
    assert_eq!(plain.encode_piece_to_vec(b"abc"), vec![256, 99]);
    let ignoring = BpeModel::new(&vocab).with_ignore_merges(true);
    assert_eq!(ignoring.encode_piece_to_vec(b"abc"), vec![257]);
    assert_eq!(ignoring.encode_piece_to_vec(b"abcc"), vec![256, 99, 99]);
}

#[test]
fn specials_are_never_produced_by_merges() {
    let mut toks = bytes256();
    toks.push((b"ab".to_vec(), 256));
    let special = SpecialToken {
        content: "abab".into(),
        id: 257,
    };
    let vocab = Vocab::from_ranks(toks, vec![special]).unwrap();
    let model = BpeModel::new(&vocab).with_ignore_merges(true);
    assert_eq!(model.encode_piece_to_vec(b"abab"), vec![256, 256]);
}

#[test]
fn pairs_are_looked_up_by_bytes_only_when_every_split_is_a_merge() {
    // Ranks equal result ids, but "abc" is made only from (ab, c): (a, bc) is no merge, so the
    // bytes "abc" must not make a and bc merge.
    let mut toks = bytes256();
    toks.push((b"bc".to_vec(), 256));
    toks.push((b"ab".to_vec(), 257));
    toks.push((b"abc".to_vec(), 258));
    let merge = |left, right, result| Merge {
        left,
        right,
        result,
        rank: result,
    };
    let partial = vec![merge(98, 99, 256), merge(97, 98, 257), merge(257, 99, 258)];
    let vocab = Vocab::from_parts(toks.clone(), partial.clone(), vec![]).unwrap();
    assert!(vocab.ranks_are_ids());
    let model = BpeModel::new(&vocab);
    assert!(!model.pairs_by_bytes);
    assert_eq!(model.encode_piece_to_vec(b"abc"), vec![97, 256]);
    assert_eq!(
        model.encode_piece_to_vec(b"abc"),
        reference(&vocab, b"abc", false)
    );
    // With the missing split too, the merges are all splits and both lookups agree.
    let mut all = partial;
    all.push(merge(97, 256, 258));
    let vocab = Vocab::from_parts(toks.clone(), all, vec![]).unwrap();
    let model = BpeModel::new(&vocab);
    assert!(model.pairs_by_bytes);
    assert_eq!(model.encode_piece_to_vec(b"abc"), vec![258]);
    assert!(BpeModel::new(&Vocab::from_ranks(toks, vec![]).unwrap()).pairs_by_bytes);
}

#[test]
fn rank_vocabularies_claim_only_what_counting_their_splits_confirms() {
    for seed in 0..30 {
        let vocab = random_rank_vocab(seed, 20 + 5 * seed as usize);
        assert!(vocab.merges_are_splits());
        let model = BpeModel::new(&vocab);
        assert!(
            splits_are_the_merges(&vocab, &model.tokens, model.pairs.len()),
            "seed {seed}"
        );
    }
    let merged = random_merge_vocab(7, 40);
    assert!(!merged.merges_are_splits(), "only from_ranks sets the flag");
}
