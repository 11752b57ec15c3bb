//! Splitting a streamed reply into sentences, so speech can start on the
//! first sentence while the rest is still arriving.
//!
//! The rules are documented on [`SentenceSplitter`]. Its two guarantees are
//! property-tested below: the chunks, joined, are exactly the input, and
//! they do not depend on how the input was cut into deltas.

/// Characters that end a sentence when whitespace follows.
const TERMINATORS: &[char] = &['.', '!', '?', '…'];
/// Characters that end a sentence by themselves (CJK).
const CJK_TERMINATORS: &[char] = &['。', '！', '？'];
/// Closing marks that belong to the sentence they follow.
const CLOSERS: &[char] = &['"', '\'', '”', '’', '»', ')', ']', '」', '』'];
/// Pauses at which the first chunk may be cut early.
const SOFT_BREAKS: &[char] = &[',', ';', ':', '，', '；', '：'];
/// Lower-cased words (without the final dot) that a dot does not end.
const ABBREVIATIONS: &[&str] = &[
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx", "no",
    "fig", "mt", "inc", "ltd", "co", "dept", "est", "min", "max", "avg",
];
/// The first chunk may be cut at a soft break once it is this long.
pub const EARLY_FLUSH_CHARS: usize = 25;
/// No chunk grows longer than this without being cut at whitespace.
pub const MAX_CHUNK_CHARS: usize = 250;

/// The streaming sentence splitter (see the [crate docs](crate) for an
/// example, and [`split_sentences`] for a whole text at once).
///
/// Feed it text deltas with [`push`](Self::push) as they arrive; each call
/// returns the chunks that are complete. When the text has ended,
/// [`finish`](Self::finish) returns the rest. The rules:
///
/// - a sentence ends at `.`, `!`, `?`, `…` (or a run of them), after any
///   closing quotes or brackets, where whitespace follows — except after an
///   abbreviation (`Dr.`, `e.g.`), an initial (`J. R. R.`), or an ellipsis
///   followed by a lowercase word; CJK terminators (`。！？`) need no space;
///   decimals (`3.14`) never end a sentence;
/// - the *first* chunk is also cut at a comma, semicolon or colon once it is
///   [`EARLY_FLUSH_CHARS`] long, so the first audio starts sooner;
/// - no chunk grows past [`MAX_CHUNK_CHARS`] (a sentence ending later does
///   not count): it is cut after its last whitespace within the limit, or,
///   when it has none (a long URL), after its first whitespace.
///
/// Whitespace after a sentence travels with it, so the chunks joined are
/// exactly the input, and they do not depend on how the input was cut
/// into deltas: a boundary is only decided once enough of what follows it
/// has arrived (so a chunk may come one delta later than its last
/// character).
#[derive(Debug, Default, Clone)]
pub struct SentenceSplitter {
    buffer: String,
    emitted_any: bool,
}

impl SentenceSplitter {
    /// A splitter that has seen no text.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a delta; returns the chunks it completed, in order.
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.buffer.push_str(delta);
        let mut chunks = Vec::new();
        while let Some(cut) = next_cut(&self.buffer, !self.emitted_any) {
            let rest = self.buffer.split_off(cut);
            chunks.push(std::mem::replace(&mut self.buffer, rest));
            self.emitted_any = true;
        }
        chunks
    }

    /// Whatever is left once the reply has ended; `None` when nothing is.
    pub fn finish(self) -> Option<String> {
        (!self.buffer.is_empty()).then_some(self.buffer)
    }
}

/// Splits a whole text at once (the same chunks the streaming splitter gives).
///
/// ```
/// assert_eq!(
///     heyclaw_domain::split_sentences("Hi Dr. Who. Ready? Go"),
///     ["Hi Dr. Who. ", "Ready? ", "Go"]
/// );
/// ```
pub fn split_sentences(text: &str) -> Vec<String> {
    let mut splitter = SentenceSplitter::new();
    let mut chunks = splitter.push(text);
    chunks.extend(splitter.finish());
    chunks
}

/// The byte index where the first complete chunk of `buffer` ends, if the
/// text seen so far decides one.
///
/// A boundary counts only when the chunk it closes is at most
/// [`MAX_CHUNK_CHARS`] long; past that the whitespace rule of
/// [`long_chunk_cut`] decides. Both are decided by the first
/// `MAX_CHUNK_CHARS + 1` characters, which is what keeps the chunks
/// independent of how the stream was cut.
fn next_cut(buffer: &str, first: bool) -> Option<usize> {
    let chars: Vec<(usize, char)> = buffer.char_indices().collect();
    match sentence_cut(&chars, first) {
        Boundary::At(k) if k <= MAX_CHUNK_CHARS => Some(chars[k].0),
        Boundary::Undecided if chars.len() <= MAX_CHUNK_CHARS => None,
        // Any boundary from here on would close a chunk that is too long.
        _ => long_chunk_cut(&chars),
    }
}

/// What the sentence rules make of the text seen so far.
enum Boundary {
    /// The first chunk ends before the character at this index.
    At(usize),
    /// What follows the text seen so far decides.
    Undecided,
    /// The text seen so far holds no boundary.
    None,
}

/// The first sentence end (or, for the first chunk, early pause) in `chars`.
fn sentence_cut(chars: &[(usize, char)], first: bool) -> Boundary {
    let is_terminator = |c: char| TERMINATORS.contains(&c) || CJK_TERMINATORS.contains(&c);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        if is_terminator(c) {
            let run_start = i;
            let mut j = i;
            while j < chars.len() && is_terminator(chars[j].1) {
                j += 1;
            }
            while j < chars.len() && CLOSERS.contains(&chars[j].1) {
                j += 1;
            }
            if j == chars.len() {
                return Boundary::Undecided;
            }
            let cjk = chars[run_start..j]
                .iter()
                .any(|(_, ch)| CJK_TERMINATORS.contains(ch));
            if !chars[j].1.is_whitespace() && !cjk {
                i = j; // "3.14", "a.b": not an end
                continue;
            }
            let k = skip_whitespace(chars, j);
            if k == chars.len() {
                return Boundary::Undecided; // the whitespace may go on, or the next word decide
            }
            let terminators: String = chars[run_start..j]
                .iter()
                .map(|(_, ch)| *ch)
                .filter(|ch| !CLOSERS.contains(ch))
                .collect();
            let ellipsis =
                terminators == "..." || terminators.starts_with('…') || terminators == "..";
            let continues = if ellipsis {
                chars[k].1.is_lowercase()
            } else if terminators == "." {
                is_abbreviation(&chars[..run_start])
            } else {
                false
            };
            if !continues {
                return Boundary::At(k);
            }
            i = k;
            continue;
        }
        if first && SOFT_BREAKS.contains(&c) && i + 1 >= EARLY_FLUSH_CHARS {
            let k = skip_whitespace(chars, i + 1);
            if k == chars.len() {
                return Boundary::Undecided;
            }
            if k > i + 1 {
                return Boundary::At(k);
            }
        }
        i += 1;
    }
    Boundary::None
}

/// The index of the first non-whitespace character at or after `from`.
fn skip_whitespace(chars: &[(usize, char)], from: usize) -> usize {
    let mut k = from;
    while k < chars.len() && chars[k].1.is_whitespace() {
        k += 1;
    }
    k
}

/// For a chunk past [`MAX_CHUNK_CHARS`] with no sentence end within it:
/// after the last complete whitespace run within the limit or, when there is
/// none (a long URL), after the first whitespace run at all.
fn long_chunk_cut(chars: &[(usize, char)]) -> Option<usize> {
    if chars.len() <= MAX_CHUNK_CHARS {
        return None;
    }
    let mut last_within = None;
    let mut i = 1;
    while i < chars.len() {
        if chars[i].1.is_whitespace() {
            let k = skip_whitespace(chars, i);
            if k == chars.len() {
                break; // the run may go on, past the limit
            }
            if k > MAX_CHUNK_CHARS {
                return Some(chars[last_within.unwrap_or(k)].0);
            }
            last_within = Some(k);
            i = k;
        } else {
            i += 1;
        }
    }
    // Every run still to come ends past the limit.
    last_within.map(|k| chars[k].0)
}

/// Whether the word just before a single dot is an abbreviation or an initial.
fn is_abbreviation(before: &[(usize, char)]) -> bool {
    let word: String = before
        .iter()
        .rev()
        .take_while(|(_, c)| !c.is_whitespace() && !CLOSERS.contains(c) && *c != '(' && *c != '"')
        .map(|(_, c)| *c)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let mut letters = word.chars();
    let single_capital =
        matches!((letters.next(), letters.next()), (Some(c), None) if c.is_uppercase());
    single_capital || ABBREVIATIONS.contains(&word.to_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn splits_plain_sentences_keeping_whitespace() {
        assert_eq!(
            split_sentences("Hi there. How are you? Great!  Bye."),
            ["Hi there. ", "How are you? ", "Great!  ", "Bye."]
        );
    }

    #[test]
    fn abbreviations_initials_and_decimals_do_not_end_sentences() {
        assert_eq!(
            split_sentences(
                "Dr. Smith paid 3.50 dollars, e.g. for tea. J. R. R. Tolkien wrote it. Done"
            ),
            [
                "Dr. Smith paid 3.50 dollars, ",
                "e.g. for tea. ",
                "J. R. R. Tolkien wrote it. ",
                "Done"
            ]
        );
    }

    #[test]
    fn ellipses_end_only_before_a_capital() {
        assert_eq!(
            split_sentences("Well... maybe. Wait... What?"),
            ["Well... maybe. ", "Wait... ", "What?"]
        );
        assert_eq!(split_sentences("So… Yes."), ["So… ", "Yes."]);
    }

    #[test]
    fn closing_quotes_stay_with_their_sentence() {
        assert_eq!(
            split_sentences("She said \"go.\" Then (it rained.) Next"),
            ["She said \"go.\" ", "Then (it rained.) ", "Next"]
        );
    }

    #[test]
    fn cjk_needs_no_space() {
        assert_eq!(
            split_sentences("你好。今天怎么样？很好！"),
            ["你好。", "今天怎么样？", "很好！"]
        );
        assert_eq!(
            split_sentences("Привет. Как дела? Хорошо."),
            ["Привет. ", "Как дела? ", "Хорошо."]
        );
    }

    #[test]
    fn the_first_chunk_is_cut_early_at_a_pause() {
        let chunks = split_sentences(
            "Sure thing, I can help you with that, and here is how we start. Step one.",
        );
        assert_eq!(chunks[0], "Sure thing, I can help you with that, ");
        assert_eq!(chunks[1], "and here is how we start. ");
        // Only the first chunk.
        assert_eq!(
            split_sentences("Okay. Sure thing, I can help you with that, ok. B"),
            ["Okay. ", "Sure thing, I can help you with that, ok. ", "B"]
        );
    }

    #[test]
    fn very_long_runs_are_cut_at_whitespace() {
        let text = "word ".repeat(120);
        let chunks = split_sentences(&text);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|c| c.chars().count() <= MAX_CHUNK_CHARS));
        assert_eq!(chunks.concat(), text);
    }

    #[test]
    fn a_sentence_ending_past_the_limit_does_not_stretch_the_chunk() {
        // Found by the property below: streamed, the chunk was cut at the
        // limit before the late sentence end arrived; whole, it was not.
        let text = format!("{}\nNext part ends late?? Yes.", "a ".repeat(124));
        let chunks = split_sentences(&text);
        assert_eq!(chunks[0], "a ".repeat(124) + "\n");
        assert_eq!(chunks.concat(), text);
        assert_eq!(chunked(&text, &[100, 251]), chunks);
    }

    #[test]
    fn a_long_word_is_cut_after_its_first_whitespace() {
        let url = format!("https://example.com/{}", "x".repeat(300));
        let text = format!("{url} and more words");
        assert_eq!(
            split_sentences(&text),
            [format!("{url} "), "and more words".into()]
        );
        assert_eq!(chunked(&text, &[50, 320]), split_sentences(&text));
    }

    #[test]
    fn a_boundary_waits_for_what_follows() {
        let mut splitter = SentenceSplitter::new();
        assert!(splitter.push("Hello Mr").is_empty());
        assert!(splitter.push(".").is_empty());
        assert!(splitter.push(" ").is_empty());
        assert!(splitter.push("Smith. Bye").len() == 1);
        assert_eq!(splitter.finish().as_deref(), Some("Bye"));
    }

    fn chunked(text: &str, cuts: &[usize]) -> Vec<String> {
        let boundaries: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        let mut points: Vec<usize> = cuts
            .iter()
            .map(|c| boundaries[c % boundaries.len()])
            .collect();
        points.push(0);
        points.push(text.len());
        points.sort_unstable();
        points.dedup();
        let mut splitter = SentenceSplitter::new();
        let mut out = Vec::new();
        for pair in points.windows(2) {
            out.extend(splitter.push(&text[pair[0]..pair[1]]));
        }
        out.extend(splitter.finish());
        out
    }

    proptest! {
        #[test]
        fn nothing_is_lost_duplicated_or_reordered(
            text in "[A-Za-zäöü你好 .,!?…\"()0-9\n]{0,300}",
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            let chunks = chunked(&text, &cuts);
            prop_assert_eq!(chunks.concat(), text.clone());
            prop_assert!(chunks.iter().all(|c| !c.is_empty()));
        }

        #[test]
        fn chunks_do_not_depend_on_how_the_stream_was_cut(
            text in "[A-Za-z .,!?…\"0-9\n]{0,300}",
            cuts in proptest::collection::vec(0usize..400, 0..20),
        ) {
            prop_assert_eq!(chunked(&text, &cuts), split_sentences(&text));
        }

        #[test]
        fn long_texts_with_few_sentence_ends_stream_the_same(
            text in "[a-zA-Z \n]{0,40}([.?…]{1,2}[ \n]?[a-zA-Z ]{0,120}){0,6}",
            cuts in proptest::collection::vec(0usize..800, 0..30),
        ) {
            let chunks = chunked(&text, &cuts);
            prop_assert_eq!(&chunks, &split_sentences(&text));
            prop_assert_eq!(chunks.concat(), text);
        }
    }
}
