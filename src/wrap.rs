//! Word wrapping for text kcops lays out itself (tables printed to a terminal, the
//! help overlay's columns), on `textwrap`: words are never hyphenated, and an empty
//! text is one empty line, so a row always has its first line.

/// `text` in lines of at most `width` columns. A word longer than a line is cut
/// when `cut_long_words`, else it keeps a line of its own (a path stays whole).
pub fn lines(text: &str, width: usize, cut_long_words: bool) -> Vec<String> {
    let options = textwrap::Options::new(width.max(1))
        .break_words(cut_long_words)
        .word_splitter(textwrap::WordSplitter::NoHyphenation);
    let lines: Vec<String> = textwrap::wrap(text, options)
        .into_iter()
        .map(|l| l.into_owned())
        .collect();
    if lines.is_empty() {
        vec![String::new()]
    } else {
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::lines;

    #[test]
    fn long_words_are_cut_only_when_asked() {
        assert_eq!(
            lines("a /very/long/path b", 6, false),
            ["a", "/very/long/path", "b"]
        );
        assert_eq!(lines("abcdefghij", 4, true), ["abcd", "efgh", "ij"]);
        assert_eq!(lines("", 4, true), [""]);
    }
}
