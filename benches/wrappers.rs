//! Placeholder: the wrappers benchmark lands with its issue.
fn main() {
    eprintln!("benchmark not written yet");
}
