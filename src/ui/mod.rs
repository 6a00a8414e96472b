//! The terminal UI: event loop, panes, overlays, theme and keymap.

pub mod app;
pub mod ceph_view;
pub(crate) mod commands;
pub mod config_error;
pub mod describe;
pub mod detail;
pub mod dialog;
mod event_loop;
pub mod keymap;
pub mod net_actions;
pub mod panes;
pub mod terminal;
pub mod theme;
pub mod view;
pub mod wizard;
