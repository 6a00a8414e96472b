//! The terminal UI: event loop, panes, overlays, theme and keymap.

pub mod config_error;
pub mod terminal;
