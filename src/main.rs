//! The fragseal command-line tool.
fn main() {
    println!("fragseal {}", env!("CARGO_PKG_VERSION"));
}
