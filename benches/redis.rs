//! Placeholder: the redis benchmark lands with its issue.
fn main() {
    eprintln!("benchmark not written yet");
}
