//! Diagnostics through `tracing`, silent unless asked for.
//!
//! Codex scans a command's output for sandbox-denial words and bwrap's stderr is matched by its
//! preflight, so on the success path we print nothing. `CODEX_LAUNCHER_LOG=debug` turns
//! logging on, to stderr; the variable is removed from our environment once read, so it never
//! reaches the sandboxed command.

use tracing::level_filters::LevelFilter;

/// Environment variables that configure our logging; never passed to the sandboxed command.
/// `RUST_LOG` is left alone: it belongs to the command (Codex reads it), not to us.
pub const LOG_VARIABLES: [&str; 1] = ["CODEX_LAUNCHER_LOG"];

/// Reads the logging variables, installs a stderr subscriber if one asks for it, and removes them.
pub fn init() {
    let mut level = None;
    for name in LOG_VARIABLES {
        if let Some(value) = std::env::var_os(name) {
            level = level.or_else(|| parse_level(&value.to_string_lossy()));
            // Safe: called first thing in main, before any thread exists.
            std::env::remove_var(name);
        }
    }
    if let Some(level) = level {
        let _ = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_writer(std::io::stderr)
            .with_target(false)
            .try_init();
    }
}

/// Accepts a plain level (`debug`) or `RUST_LOG`-style directives (`codex_launcher=trace,info`),
/// taking the most verbose level named.
pub fn parse_level(spec: &str) -> Option<LevelFilter> {
    spec.split(',')
        .filter_map(|directive| {
            let level = directive.rsplit('=').next()?.trim();
            level.parse::<LevelFilter>().ok()
        })
        .max()
        .filter(|l| *l != LevelFilter::OFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_directive_levels() {
        assert_eq!(parse_level("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(
            parse_level("codex_launcher=trace,info"),
            Some(LevelFilter::TRACE)
        );
        assert_eq!(parse_level("off"), None);
        assert_eq!(parse_level("nonsense"), None);
    }
}
