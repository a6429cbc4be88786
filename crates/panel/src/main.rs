//! The `tweakgate` binary: parses arguments and maps errors to exit codes; everything else is in the library.

fn main() -> std::process::ExitCode {
    panel::cli::main()
}
