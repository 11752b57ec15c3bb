//! `embed_migrations!` reads `migrations/` at compile time, but Cargo does
//! not know the crate depends on that directory: without this, a new
//! migration was left out of the binary until something else changed.

fn main() {
    println!("cargo:rerun-if-changed=../../migrations");
}
