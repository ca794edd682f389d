//! Pipeline tests: round trips, special-token policy, offsets, batches, raw bytes.

use super::*;
use crate::vocab::SpecialToken;
use proptest::prelude::*;

const END: &str = "<|endoftext|>";
const FIM: &str = "<|fim|>";

/// Bytes plus a few merges (tiktoken-style ranks) and two specials.
fn vocab() -> Vocab {
    let mut tokens: Vec<(Vec<u8>, TokenId)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
    let words: &[&[u8]] = &[
        b"he",
        b"ll",
        b"hell",
        b"hello",
        b" w",
        b"or",
        b" wor",
        b" world",
        b"aa",
        b"aaaa",
        b"\xc3\xa9",
    ];
    for w in words {
        let id = tokens.len() as TokenId;
        tokens.push((w.to_vec(), id));
    }
    let specials = vec![
        SpecialToken {
            content: END.into(),
            id: 1000,
        },
        SpecialToken {
            content: FIM.into(),
            id: 1001,
        },
    ];
    Vocab::from_ranks(tokens, specials).unwrap()
}

fn tokenizer(pre: &str, norm: Normalizer) -> Tokenizer {
    Tokenizer::new(vocab(), PreTokenizer::new(pre).unwrap(), norm)
        .unwrap()
        .with_ignore_merges(true)
}

fn only(s: &str) -> SpecialSet {
    SpecialSet::Some([s.to_string()].into_iter().collect())
}

#[test]
fn encodes_and_decodes_words() {
    let t = tokenizer("cl100k", Normalizer::None);
    let ids = t.encode_ordinary("hello world");
    assert_eq!(
        ids,
        vec![
            t.token_to_id(b"hello").unwrap(),
            t.token_to_id(b" world").unwrap()
        ]
    );
    assert_eq!(t.decode_bytes(&ids).unwrap(), b"hello world");
    assert!(t.ignore_merges());
    assert_eq!(t.vocab_size(), 1002);
    assert_eq!(t.id_to_token(1000), Some(END.as_bytes()));
    assert_eq!(t.token_to_id(END.as_bytes()), Some(1000));
    assert!(t.decode_bytes(&[999]).is_err());
}

#[test]
fn special_policy() {
    let t = tokenizer("cl100k", Normalizer::None);
    let text = format!("hello{END} world{FIM}");
    let all = t
        .encode(&text, &SpecialSet::All, &SpecialSet::Nothing)
        .unwrap();
    assert_eq!(all[1], 1000);
    assert_eq!(*all.last().unwrap(), 1001);
    let err = t
        .encode(&text, &only(END), &SpecialSet::All)
        .unwrap_err()
        .to_string();
    assert!(err.contains(FIM), "{err}");
    let partial = t.encode(&text, &only(END), &SpecialSet::Nothing).unwrap();
    assert!(partial.contains(&1000) && !partial.contains(&1001));
    let ordinary = t
        .encode(&text, &SpecialSet::Nothing, &SpecialSet::Nothing)
        .unwrap();
    assert_eq!(ordinary, t.encode_ordinary(&text));
    assert!(!ordinary.contains(&1000));
    assert!(t
        .encode(&text, &SpecialSet::Nothing, &SpecialSet::All)
        .is_err());
}

#[test]
fn offsets_cover_the_text() {
    let t = tokenizer("cl100k", Normalizer::None);
    let text = format!("hello world{END}aaaaaaa é!");
    let (ids, offsets) = t
        .encode_with_offsets(&text, &SpecialSet::All, &SpecialSet::Nothing)
        .unwrap();
    assert_eq!(ids.len(), offsets.len());
    assert_eq!(
        ids,
        t.encode(&text, &SpecialSet::All, &SpecialSet::Nothing)
            .unwrap()
    );
    let mut at = 0;
    for (&id, &(s, e)) in ids.iter().zip(&offsets) {
        assert_eq!(s, at);
        assert_eq!(&text.as_bytes()[s..e], t.id_to_token(id).unwrap());
        at = e;
    }
    assert_eq!(at, text.len());
}

#[test]
fn normalization_applies_outside_specials_and_maps_offsets() {
    let t = tokenizer("cl100k", Normalizer::Nfc);
    // "e" + combining acute composes to "é" (one token); the special's text is untouched.
    let text = format!("he\u{301}{END}x");
    let ids = t
        .encode(&text, &SpecialSet::All, &SpecialSet::Nothing)
        .unwrap();
    let e_acute = t.token_to_id("é".as_bytes()).unwrap();
    assert_eq!(ids, vec![b'h' as u32, e_acute, 1000, b'x' as u32]);
    let (ids2, offsets) = t
        .encode_with_offsets(&text, &SpecialSet::All, &SpecialSet::Nothing)
        .unwrap();
    assert_eq!(ids2, ids);
    assert_eq!(
        offsets,
        vec![
            (0, 1),
            (1, 4),
            (4, 4 + END.len()),
            (4 + END.len(), 5 + END.len())
        ]
    );
}

#[test]
fn batches_match_single_calls() {
    let t = tokenizer("cl100k", Normalizer::None);
    let mixed = format!("a{END}b");
    let texts = ["hello world", "", "aaaaaaaaa", mixed.as_str()];
    let batch = t
        .encode_batch(&texts, &SpecialSet::All, &SpecialSet::Nothing)
        .unwrap();
    let ordinary = t.encode_ordinary_batch(&texts);
    for (i, text) in texts.iter().enumerate() {
        assert_eq!(
            batch[i],
            t.encode(text, &SpecialSet::All, &SpecialSet::Nothing)
                .unwrap()
        );
        assert_eq!(ordinary[i], t.encode_ordinary(text));
    }
    assert!(t
        .encode_batch(&texts, &SpecialSet::Nothing, &SpecialSet::All)
        .is_err());
}

#[test]
fn raw_bytes_split_invalid_utf8() {
    let regex = tokenizer("cl100k", Normalizer::None);
    let none = tokenizer("none", Normalizer::None);
    let bytes = b"hello\xff\xfe world";
    let ids = regex.encode_bytes(bytes);
    assert_eq!(ids[0], regex.token_to_id(b"hello").unwrap());
    assert_eq!(&ids[1..3], &[0xff, 0xfe]);
    assert_eq!(
        none.encode_bytes(bytes),
        none.model().encode_piece_to_vec(bytes)
    );
    assert_eq!(
        regex.encode_bytes(b"hello world"),
        regex.encode_ordinary("hello world")
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn text_round_trips(text in "\\PC{0,80}|[ahelowr \n]{0,300}") {
        for pre in ["cl100k", "gpt2", "none"] {
            let t = tokenizer(pre, Normalizer::None);
            let ids = t.encode(&text, &SpecialSet::All, &SpecialSet::Nothing).unwrap();
            prop_assert_eq!(t.decode_bytes(&ids).unwrap(), text.as_bytes());
            prop_assert_eq!(t.decode_bytes(&t.encode_ordinary(&text)).unwrap(), text.as_bytes());
        }
    }

    #[test]
    fn bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        for pre in ["cl100k", "none"] {
            let t = tokenizer(pre, Normalizer::None);
            prop_assert_eq!(t.decode_bytes(&t.encode_bytes(&bytes)).unwrap(), bytes.clone());
        }
    }

    #[test]
    fn normalized_offsets_are_monotone(text in "[a-e\u{300}-\u{303}\u{1100}\u{1161}\u{11a8} ]{0,40}") {
        let t = tokenizer("cl100k", Normalizer::Nfkc);
        let (ids, offsets) = t.encode_with_offsets(&text, &SpecialSet::All, &SpecialSet::Nothing).unwrap();
        prop_assert_eq!(&ids, &t.encode_ordinary(&text));
        let mut last = 0;
        for &(s, e) in &offsets {
            // Byte-level tokens may end inside a character; ranges stay ordered and in bounds.
            prop_assert!(s <= e && e <= text.len() && s >= last);
            last = s;
        }
    }
}

/// A tiktoken-style vocabulary with merges for every kind of text [`mixed_text`] makes.
fn mixed_vocab() -> Vocab {
    let mut tokens: Vec<(Vec<u8>, TokenId)> = (0..=255u8).map(|b| (vec![b], b as u32)).collect();
    let words = [
        "ab", "ba", "aB", "Ab", "abc", "bca", "cab", "abab", " a", " ab", "12", "123", "23", "  ",
        "   ", "\n\n", " \n", "中", "文", "中文", "字", "文字", "++", "+/", "==", "a+", "aaaa",
    ];
    for w in words {
        let id = tokens.len() as TokenId;
        tokens.push((w.as_bytes().to_vec(), id));
    }
    Vocab::from_ranks(tokens, vec![]).unwrap()
}

/// Text made of runs of letters, digits, spaces, line breaks, CJK and punctuation, some of them
/// long: `(kind, length)` per run.
fn mixed_text(runs: &[(u8, usize)]) -> String {
    let mut s = String::new();
    let mut x = 7u32;
    let mut pick = |alphabet: &[char]| {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        alphabet[(x >> 16) as usize % alphabet.len()]
    };
    for &(kind, len) in runs {
        let alphabet: &[char] = match kind % 7 {
            0 => &['a', 'b', 'c', 'A', 'B'],
            1 => &['1', '2', '3', '4'],
            2 => &[' '],
            3 => &['\n', ' ', '\n'],
            4 => &['中', '文', '字', '漢'],
            5 => &['+', '/', '=', 'a', 'b', '9'],
            _ => &['a'],
        };
        for _ in 0..len {
            s.push(pick(alphabet));
        }
    }
    s
}

/// `f` on a rayon pool of `threads` threads.
fn on_threads<T: Send>(threads: usize, f: impl FnOnce() -> T + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// The ids of a scan from the start, piece by piece, on the calling thread.
fn sequential_ids(t: &Tokenizer, text: &str) -> Vec<TokenId> {
    let mut out = Vec::new();
    for piece in t.pretokenizer().split(text) {
        t.model().encode_piece(piece.as_bytes(), &mut out);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    /// Long texts are encoded on several threads (from 2 KiB in tests, in windows of 4 KiB):
    /// exactly the ids of one sequential pass.
    #[test]
    fn long_texts_in_parts_match_one_scan(
        runs in prop::collection::vec((0u8..7, prop::sample::select(vec![1usize, 2, 3, 5, 40, 700, 3000])), 1..40),
        threads in 2usize..5,
        pre in prop::sample::select(vec!["o200k", "cl100k", "gpt2", "llama3", "qwen2"]),
    ) {
        let text = mixed_text(&runs);
        let t = Tokenizer::new(mixed_vocab(), PreTokenizer::new(pre).unwrap(), Normalizer::None)
            .unwrap()
            .with_ignore_merges(true);
        let want = sequential_ids(&t, &text);
        prop_assert_eq!(on_threads(1, || t.encode_ordinary(&text)), want.clone());
        prop_assert_eq!(on_threads(threads, || t.encode_ordinary(&text)), want);
    }
}

#[test]
fn long_texts_go_parallel_on_pools_of_several_threads() {
    let t = Tokenizer::new(
        mixed_vocab(),
        PreTokenizer::new(r"\w+|\s+|[^\w\s]+").unwrap(),
        Normalizer::None,
    )
    .unwrap();
    let text = mixed_text(&[(0, 3000), (2, 1), (0, 3000), (3, 5), (4, 6000), (1, 4000)]);
    assert!(on_threads(3, || t.encodes_in_parallel(&text)));
    assert!(!on_threads(1, || t.encodes_in_parallel(&text)));
    assert!(!on_threads(3, || t.encodes_in_parallel(&text[..1000])));
    let want = sequential_ids(&t, &text);
    for threads in 2..6 {
        assert_eq!(on_threads(threads, || t.encode_ordinary(&text)), want);
    }
}

/// Parts whose guessed start is wrong (digits are grouped by three from wherever a scan starts),
/// a text that is one piece and runs of one letter: the parts still give one scan's ids.
#[test]
fn parts_that_start_in_the_wrong_place_are_skipped() {
    let digits: String = (0..7001)
        .map(|i| char::from(b'0' + (i * 7 % 10) as u8))
        .collect();
    let texts = [
        digits.clone(),
        format!("x{digits}y {digits}"),
        "中文字".repeat(1500),
        "a".repeat(5000),
        mixed_text(&[(0, 3000), (2, 700), (5, 3000), (1, 40)]),
    ];
    for pre in ["o200k", "cl100k", "gpt2", "llama3", "qwen2"] {
        let t = Tokenizer::new(
            mixed_vocab(),
            PreTokenizer::new(pre).unwrap(),
            Normalizer::None,
        )
        .unwrap()
        .with_ignore_merges(true);
        assert!(t.pretokenizer().is_resumable());
        for text in &texts {
            let want = sequential_ids(&t, text);
            for threads in 2..5 {
                assert_eq!(
                    on_threads(threads, || t.encode_ordinary(text)),
                    want,
                    "{pre}"
                );
                let runs = on_threads(threads, || t.encode_ordinary_runs(text));
                assert!(runs.len() > 1, "{pre}: a long text comes back in runs");
                assert_eq!(runs.concat(), want, "{pre}: the runs joined");
            }
        }
    }
    // A custom regex takes the batch path; a short text is one run.
    let custom = Tokenizer::new(
        mixed_vocab(),
        PreTokenizer::new(r"\p{L}+|\p{N}{1,3}|\s+|.").unwrap(),
        Normalizer::None,
    )
    .unwrap();
    let text = &texts[4];
    let runs = on_threads(2, || custom.encode_ordinary_runs(text));
    assert!(runs.len() > 1);
    assert_eq!(runs.concat(), sequential_ids(&custom, text));
    let short = on_threads(2, || custom.encode_ordinary_runs("ab 12"));
    assert_eq!(short, vec![custom.encode_ordinary("ab 12")]);
}
