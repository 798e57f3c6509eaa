//! Open Cybersecurity Schema Framework (OCSF) rendering.

use serde_json::Value;
use webqx_audit::TrailRecord;

/// The record as one OCSF event.
pub fn render(rec: &TrailRecord) -> Value {
    let _ = rec;
    unimplemented!("OCSF is being written")
}
