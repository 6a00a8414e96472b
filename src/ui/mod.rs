//! The terminal UI: event loop, panes, overlays, theme and keymap.

pub mod app;
pub mod clipboard;
/// The Ceph pane's view model moved to [`crate::views::ceph`] (no UI there).
pub use crate::views::ceph as ceph_view;
pub(crate) mod commands;
pub mod config_error;
pub mod describe;
pub mod detail;
pub mod dialog;
mod event_loop;
pub mod help;
#[cfg(test)]
mod key_coverage;
pub mod keymap;
mod lab_story;
pub(crate) mod nav;
pub mod panes;
pub(crate) mod plans;
pub(crate) mod secrets;
mod signals;
pub mod terminal;
pub mod text_field;
pub mod theme;
pub mod view;
pub mod wizard;
