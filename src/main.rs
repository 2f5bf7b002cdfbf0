//! The `bouncer` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    bouncer::dispatch::main(std::env::args().collect())
}
