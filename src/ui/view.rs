//! The view model now lives in [`crate::views`] (no UI there); these names stay
//! reachable from here for the panes and tests that use them.

pub use crate::views::tables::*;
pub use crate::views::*;
