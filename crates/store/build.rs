//! Rebuild when a migration is added or changed: `sqlx::migrate!` embeds the folder at
//! compile time, and cargo does not watch it on its own (as sqlx's documentation says).

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
