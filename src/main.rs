fn main() -> std::process::ExitCode {
    let cli = devreg::cli::Cli::parse_args();
    devreg::logging::init(cli.log_level.as_deref(), cli.log_format);
    match devreg::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devreg: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
