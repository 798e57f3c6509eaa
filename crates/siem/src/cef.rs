//! ArcSight Common Event Format (CEF) rendering.

use webqx_audit::TrailRecord;

/// The record as one CEF line.
pub fn render(rec: &TrailRecord) -> String {
    let _ = rec;
    unimplemented!("CEF is being written")
}
