//! Rebuild when a migration changes: `sqlx::migrate!` embeds them at
//! compile time but does not tell cargo to watch the directory.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
