#![no_main]
//! Version ordering, every ecosystem: parsing never panics, and the order is
//! antisymmetric and transitive on three versions cut from the input.

use std::cmp::Ordering;

use libfuzzer_sys::fuzz_target;
use webqx_vuln::Ecosystem;
use webqx_vuln::version::parse;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let (a, b, c) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    for eco in Ecosystem::ALL {
        let (x, y, z) = (parse(eco, a), parse(eco, b), parse(eco, c));
        let (Ok(x), Ok(y), Ok(z)) = (x, y, z) else {
            continue;
        };
        assert_eq!(x.cmp(&y), y.cmp(&x).reverse(), "{eco}: {a:?} {b:?}");
        assert_eq!(x.cmp(&x), Ordering::Equal);
        if x <= y && y <= z {
            assert!(x <= z, "{eco}: {a:?} <= {b:?} <= {c:?}");
        }
    }
});
