//! The server's log: where its filter comes from, what a bad filter does, and the two
//! line formats (env_logger's text, or one JSON object a line for log collectors).

use std::io::Write;
use std::str::FromStr;

use clap::ValueEnum;
use log::LevelFilter;

/// How log lines are written to stderr.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// `[time LEVEL target] message`, for people.
    #[default]
    Text,
    /// `{"time", "level", "target", "message"}`, one object a line, for log collectors.
    Json,
}

/// Starts the logger. The filter is `flag` (`--log-level`) if given, else `RUST_LOG`, else
/// `info`, in `RUST_LOG`'s syntax (`warn`, `info,devreg::request=off`). A directive that
/// is not a level nor `MODULE=LEVEL` is dropped with a warning on stderr, whatever the
/// filter lets through; a filter with nothing valid left is `info`. (A bare word that is
/// not a level would otherwise be read as a module name and silence everything else.)
pub fn init(flag: Option<&str>, format: LogFormat) {
    let (source, spec) = match (flag, std::env::var("RUST_LOG").ok()) {
        (Some(flag), _) => ("--log-level", flag.to_owned()),
        (None, Some(env)) => ("RUST_LOG", env),
        (None, None) => ("", "info".to_owned()),
    };
    let (filter, rejected) = checked_filter(&spec);
    for bad in rejected {
        warn_early(
            format,
            &format!(
                "{source}: {} is neither a level (off, error, warn, info, debug, trace) \
                 nor MODULE=LEVEL; ignoring it",
                crate::domain::quoted(&bad)
            ),
        );
    }
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&filter);
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let line = serde_json::json!({
                "time": now_rfc3339(),
                "level": record.level().as_str(),
                "target": record.target(),
                "message": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    builder.init();
}

/// The directives of `spec` that parse, joined again (or `info` if none do), and the
/// ones that do not.
pub fn checked_filter(spec: &str) -> (String, Vec<String>) {
    let (directives, regex) = match spec.split_once('/') {
        Some((d, r)) => (d, Some(r)),
        None => (spec, None),
    };
    let mut kept = Vec::new();
    let mut rejected = Vec::new();
    for directive in directives
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        let valid = match directive.split_once('=') {
            Some((module, level)) => {
                !module.trim().is_empty()
                    && (level.trim().is_empty() || LevelFilter::from_str(level.trim()).is_ok())
            }
            None => LevelFilter::from_str(directive).is_ok(),
        };
        if valid {
            kept.push(directive);
        } else {
            rejected.push(directive.to_owned());
        }
    }
    if kept.is_empty() {
        kept.push("info");
    }
    let mut filter = kept.join(",");
    if let Some(regex) = regex {
        filter = format!("{filter}/{regex}");
    }
    (filter, rejected)
}

/// A warning written before the logger exists, in the chosen format.
fn warn_early(format: LogFormat, message: &str) {
    match format {
        LogFormat::Text => eprintln!("devreg: warning: {message}"),
        LogFormat::Json => eprintln!(
            "{}",
            serde_json::json!({
                "time": now_rfc3339(),
                "level": "WARN",
                "target": "devreg::logging",
                "message": message,
            })
        ),
    }
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_directives_are_dropped_and_named() {
        assert_eq!(checked_filter("warn"), ("warn".to_owned(), vec![]));
        assert_eq!(
            checked_filter("info, devreg::request=off"),
            ("info,devreg::request=off".to_owned(), vec![])
        );
        assert_eq!(
            checked_filter("verbose"),
            ("info".to_owned(), vec!["verbose".to_owned()])
        );
        assert_eq!(
            checked_filter("debug,devreg=loud"),
            ("debug".to_owned(), vec!["devreg=loud".to_owned()])
        );
    }
}
