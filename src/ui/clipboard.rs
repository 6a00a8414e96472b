//! Copying text to the operator's clipboard through the terminal (OSC 52), which works
//! over SSH where no local clipboard tool could; terminals that do not support it
//! ignore the sequence. Written from the UI task between frames, so it never lands
//! inside a frame's output.

use std::io::Write;

use base64::Engine;

/// The OSC 52 sequence that sets the clipboard to `text`.
pub fn osc52(text: &str) -> String {
    format!(
        "\x1b]52;c;{}\x07",
        base64::engine::general_purpose::STANDARD.encode(text)
    )
}

/// Sends [`osc52`] to the terminal; a terminal that cannot take it loses nothing.
pub(crate) fn copy(text: &str) {
    let mut out = std::io::stdout();
    let _ = out.write_all(osc52(text).as_bytes());
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    #[test]
    fn osc52_carries_the_text_in_base64() {
        assert_eq!(super::osc52("kubeadm"), "\x1b]52;c;a3ViZWFkbQ==\x07");
    }
}
