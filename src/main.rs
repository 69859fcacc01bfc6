fn main() -> std::process::ExitCode {
    let cli = devreg::cli::Cli::parse_args();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    match devreg::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("devreg: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
