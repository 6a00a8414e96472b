//! The terminal UI: event loop, panes, overlays, theme and keymap.

pub mod app;
pub mod ceph_view;
pub mod config_error;
pub mod describe;
pub mod detail;
pub mod dialog;
pub mod help;
#[cfg(test)]
mod key_coverage;
pub mod keymap;
pub mod net_actions;
pub mod panes;
pub mod terminal;
pub mod text_field;
pub mod theme;
pub mod view;
pub mod wizard;
