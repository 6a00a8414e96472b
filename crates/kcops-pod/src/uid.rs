//! An object's uid in 16 bytes.

use std::borrow::Cow;
use std::fmt::Write as _;

/// An object's uid: a UUID, as the API server makes them, in 16 bytes where its text
/// takes 36 and an allocation (150,000 pods); any other text is kept as it is.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Uid {
    Uuid([u8; 16]),
    Text(Box<str>),
}

impl Uid {
    /// `text` as a UUID when it is one written as the API server writes them
    /// (lower-case, hyphenated), so that it reads back the same; else as text.
    pub fn new(text: &str) -> Uid {
        Self::uuid(text).map_or_else(|| Uid::Text(text.into()), Uid::Uuid)
    }

    fn uuid(text: &str) -> Option<[u8; 16]> {
        let b = text.as_bytes();
        if b.len() != 36 || [8, 13, 18, 23].iter().any(|i| b[*i] != b'-') {
            return None;
        }
        let mut hex = b.iter().filter(|c| **c != b'-');
        let mut out = [0u8; 16];
        for byte in &mut out {
            let hi = digit(*hex.next()?)?;
            let lo = digit(*hex.next()?)?;
            *byte = hi << 4 | lo;
        }
        Some(out)
    }

    /// The uid as the API server writes it.
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Uid::Text(t) => Cow::Borrowed(t),
            Uid::Uuid(_) => Cow::Owned(self.to_string()),
        }
    }
}

/// A lower-case hex digit's value.
fn digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    }
}

impl std::fmt::Display for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Uid::Text(t) => f.write_str(t),
            Uid::Uuid(b) => {
                for (i, byte) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        f.write_char('-')?;
                    }
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::fmt::Debug for Uid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}", self = self.to_string())
    }
}

impl PartialEq<str> for Uid {
    fn eq(&self, other: &str) -> bool {
        match self {
            Uid::Text(t) => &**t == other,
            Uid::Uuid(b) => Self::uuid(other).is_some_and(|o| o == *b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_is_16_bytes_and_reads_back_as_written() {
        let text = "5e0b6a1c-0000-4000-8000-000000004242";
        let uid = Uid::new(text);
        assert!(matches!(uid, Uid::Uuid(_)));
        assert_eq!(uid.to_string(), text);
        assert_eq!(uid.text(), text);
        assert!(uid == *text);
        assert!(uid != *"5e0b6a1c-0000-4000-8000-000000004243");
        // Anything else is kept as written: upper case, no hyphens, short ids.
        for other in ["5E0B6A1C-0000-4000-8000-000000004242", "u1", ""] {
            let uid = Uid::new(other);
            assert!(matches!(uid, Uid::Text(_)), "{other}");
            assert_eq!(uid.to_string(), other);
            assert!(uid == *other);
        }
        assert_eq!(std::mem::size_of::<Option<Uid>>(), 24);
    }
}
