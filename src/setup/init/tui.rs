//! The init wizard in the terminal.

use anyhow::Result;

use crate::setup::args::{InitArgs, SetupGlobals};

pub async fn run(_a: &InitArgs, _g: &SetupGlobals) -> Result<i32> {
    anyhow::bail!("the init wizard is not available yet; use --preflight-only")
}
