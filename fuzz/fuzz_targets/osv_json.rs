#![no_main]
//! OSV JSON: `osv::parse_json` never panics; an accepted advisory serializes and
//! parses back to the same record, and its compact database form can be matched
//! against a version without panicking.

use libfuzzer_sys::fuzz_target;
use webqx_vuln::db::Record;
use webqx_vuln::matching::{Skipped, is_affected};
use webqx_vuln::osv;

fuzz_target!(|data: &[u8]| {
    let Ok(adv) = osv::parse_json(data) else {
        return;
    };
    let again = serde_json::to_vec(&adv).expect("an advisory serializes");
    assert_eq!(osv::parse_json(&again).ok().as_ref(), Some(&adv));
    let record = Record::from_osv(&adv);
    let mut skipped = Skipped::default();
    for a in &record.affected {
        for v in [
            "0",
            "1.0.0",
            "v0.0.0-20200101000000-abcdef012345",
            "2!1.0.post1",
        ] {
            let _ = is_affected(a.ecosystem, v, &a.ranges, &a.versions, &mut skipped);
        }
    }
});
