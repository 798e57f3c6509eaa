//! Elastic Common Schema (ECS) rendering.

use serde_json::Value;
use webqx_audit::TrailRecord;

/// The record as one ECS document.
pub fn render(rec: &TrailRecord) -> Value {
    let _ = rec;
    unimplemented!("ECS is being written")
}
