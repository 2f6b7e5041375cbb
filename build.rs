//! The migrations are compiled into the binary (`embed_migrations!`); a new
//! or edited migration must rebuild it, which cargo does not see on its own.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
