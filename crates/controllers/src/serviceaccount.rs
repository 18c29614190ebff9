//! The serviceaccount controller (not written yet: this placeholder returns at once).

use crate::{Context, Result};
use std::sync::Arc;

pub async fn run(_ctx: Arc<Context>) -> Result<()> {
    Ok(())
}
