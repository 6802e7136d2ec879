fn main() -> std::process::ExitCode {
    waxwing::cli::main()
}
