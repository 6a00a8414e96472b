//! Setting up a machine: what `kcops setup init|join|reset` and the console's `:join`
//! share.

pub mod discovery;
pub mod token;
