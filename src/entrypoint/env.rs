//! `CODEX_RUN_*` environment variables as entrypoint options. Pure: the caller passes the
//! environment and says which options were given as flags (a flag wins over its variable).

use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::cli::RunArgs;
use crate::exit::Failure;

/// Every variable the entrypoint (or the run it starts) reads, with the option it sets (the clap
/// argument id, or `None` for variables read elsewhere).
pub const KNOWN: [(&str, Option<&str>); 21] = [
    ("CODEX_RUN_SANDBOX", Some("sandbox")),
    ("CODEX_RUN_NETWORK", Some("network")),
    ("CODEX_RUN_ALLOW_DOMAINS", Some("allow_domains")),
    ("CODEX_RUN_ALLOW_ENDPOINTS", Some("allow_endpoints")),
    ("CODEX_RUN_WRITABLE_ROOTS", Some("writable_roots")),
    ("CODEX_RUN_ALLOW_UNIX_SOCKETS", Some("allow_unix_sockets")),
    ("CODEX_RUN_CWD", Some("cwd")),
    ("CODEX_RUN_PERMISSION_PROFILE", Some("permission_profile")),
    ("CODEX_RUN_BACKEND", Some("backend")),
    (
        "CODEX_RUN_REQUIRE_FULL_ISOLATION",
        Some("require_full_isolation"),
    ),
    ("CODEX_RUN_TASK_ID", Some("task_id")),
    ("CODEX_RUN_HOME", Some("home")),
    ("CODEX_RUN_SHARED_HOME", Some("shared_home")),
    ("CODEX_RUN_CODEX", Some("codex")),
    ("CODEX_RUN_CODEX_VERSION", Some("codex_version")),
    ("CODEX_RUN_LOCK_EXPORT", Some("lock_export")),
    ("CODEX_RUN_LOCK_REPLAY", Some("lock_replay")),
    (
        "CODEX_RUN_ALLOW_CODEX_VERSION_MISMATCH",
        Some("allow_codex_version_mismatch"),
    ),
    ("CODEX_RUN_GRACE_SECONDS", None),
    ("CODEX_RUN_MULTI_AGENT", None),
    ("CODEX_RUN_MEMORY", None),
];

pub const PREFIX: &str = "CODEX_RUN_";

/// How long processes get between SIGTERM and SIGKILL when not configured.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Fills the options of `args` that were not given as flags from the `CODEX_RUN_*` variables in
/// `env`, and returns the grace period. An unknown `CODEX_RUN_*` name or a bad value is an error
/// naming the variable. Empty values count as unset.
pub fn apply(
    args: &mut RunArgs,
    env: &[(String, String)],
    given_as_flag: impl Fn(&str) -> bool,
) -> Result<Duration, Failure> {
    let mut grace = DEFAULT_GRACE;
    for (name, value) in env {
        if !name.starts_with(PREFIX) {
            continue;
        }
        let Some((_, option)) = KNOWN.iter().find(|(known, _)| known == name) else {
            return Err(unknown(name));
        };
        if value.is_empty() || option.is_some_and(&given_as_flag) {
            continue;
        }
        let bad = |why: String| Failure::usage(format!("{name}={value}: {why}"));
        let path = || PathBuf::from(value);
        let s = &mut args.sandbox;
        let h = &mut args.home;
        match name.as_str() {
            "CODEX_RUN_SANDBOX" => s.sandbox = choice(value).map_err(bad)?,
            "CODEX_RUN_NETWORK" => s.network = choice(value).map_err(bad)?,
            "CODEX_RUN_BACKEND" => s.backend = choice(value).map_err(bad)?,
            "CODEX_RUN_ALLOW_DOMAINS" => s.allow_domains = list(value),
            "CODEX_RUN_ALLOW_ENDPOINTS" => s.allow_endpoints = list(value),
            "CODEX_RUN_WRITABLE_ROOTS" => s.writable_roots = paths(value),
            "CODEX_RUN_ALLOW_UNIX_SOCKETS" => s.allow_unix_sockets = paths(value),
            "CODEX_RUN_CWD" => s.cwd = Some(path()),
            "CODEX_RUN_PERMISSION_PROFILE" => s.permission_profile = Some(value.clone()),
            "CODEX_RUN_REQUIRE_FULL_ISOLATION" => {
                s.require_full_isolation = boolean(value).map_err(bad)?
            }
            "CODEX_RUN_TASK_ID" => h.task_id = Some(value.clone()),
            "CODEX_RUN_HOME" => h.home = Some(path()),
            "CODEX_RUN_SHARED_HOME" => h.shared_home = Some(path()),
            "CODEX_RUN_CODEX" => args.codex = Some(path()),
            "CODEX_RUN_CODEX_VERSION" => h.codex_version = Some(value.clone()),
            "CODEX_RUN_LOCK_EXPORT" => args.lock.export = Some(path()),
            "CODEX_RUN_LOCK_REPLAY" => args.lock.replay = Some(path()),
            "CODEX_RUN_ALLOW_CODEX_VERSION_MISMATCH" => {
                args.lock.allow_codex_version_mismatch = boolean(value).map_err(bad)?
            }
            "CODEX_RUN_GRACE_SECONDS" => {
                grace = value
                    .parse::<u64>()
                    .map(Duration::from_secs)
                    .map_err(|_| bad("expected a whole number of seconds".into()))?
            }
            _ => {} // read by the run itself (multi-agent, memory)
        }
    }
    let env_set = |var: &str| env.iter().any(|(k, v)| k == var && !v.is_empty());
    if env_set("CODEX_RUN_PERMISSION_PROFILE") && !given_as_flag("permission_profile") {
        let mode_vars = [
            "CODEX_RUN_SANDBOX",
            "CODEX_RUN_NETWORK",
            "CODEX_RUN_WRITABLE_ROOTS",
        ];
        if let Some(var) = mode_vars.iter().find(|v| env_set(v)) {
            return Err(Failure::usage(format!(
                "CODEX_RUN_PERMISSION_PROFILE and {var} cannot be combined: the profile says everything"
            )));
        }
        if ["sandbox", "network", "writable_roots"]
            .iter()
            .any(|id| given_as_flag(id))
        {
            args.sandbox.permission_profile = None; // a flag wins over its variable
        }
    }
    Ok(grace)
}

fn choice<T: ValueEnum>(value: &str) -> Result<T, String> {
    T::from_str(value, false).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value())
            .filter(|p| !p.is_hide_set())
            .map(|p| p.get_name().to_string())
            .collect();
        format!("expected one of {}", names.join(", "))
    })
}

/// The same words clap accepts for the boolean flags' own variables
/// (`CODEX_LAUNCHER_REQUIRE_FULL_ISOLATION`), so one spelling works everywhere.
fn boolean(value: &str) -> Result<bool, String> {
    use clap::builder::{BoolishValueParser, TypedValueParser};
    let cmd = clap::Command::new("codex-entrypoint");
    BoolishValueParser::new()
        .parse_ref(&cmd, None, std::ffi::OsStr::new(value))
        .map_err(|_| "expected 1/true/yes/on or 0/false/no/off".into())
}

fn unknown(name: &str) -> Failure {
    let closest = KNOWN
        .iter()
        .map(|(known, _)| (strsim::levenshtein(name, known), *known))
        .min()
        .filter(|(d, _)| *d <= 3);
    let hint = match closest {
        Some((_, known)) => format!("; did you mean {known}?"),
        None => {
            let names: Vec<&str> = KNOWN.iter().map(|(n, _)| *n).collect();
            format!("; the known ones are {}", names.join(", "))
        }
    };
    Failure::usage(format!("{name}: unknown CODEX_RUN_* variable{hint}"))
}

/// A comma- or space-separated list, as a container spec writes one.
/// A colon-separated list of paths.
fn paths(value: &str) -> Vec<PathBuf> {
    value
        .split(':')
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .collect()
}

fn list(value: &str) -> Vec<String> {
    value
        .split([',', ' '])
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::modes::{Network, SandboxMode};
    use crate::select::BackendRequest;
    use clap::Parser;

    fn parse(flags: &[&str]) -> (RunArgs, clap::ArgMatches) {
        use clap::{CommandFactory, FromArgMatches};
        let argv = std::iter::once("codex-entrypoint").chain(flags.iter().copied());
        let matches = crate::cli::EntrypointCli::command().get_matches_from(argv);
        let cli = crate::cli::EntrypointCli::from_arg_matches(&matches).unwrap();
        (cli.args, matches)
    }

    fn apply_env(flags: &[&str], env: &[(&str, &str)]) -> Result<(RunArgs, Duration), Failure> {
        let (mut args, matches) = parse(flags);
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let grace = apply(&mut args, &env, |id| {
            matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        })?;
        Ok((args, grace))
    }

    #[test]
    fn variables_fill_options_and_flags_win() {
        let env = [
            ("CODEX_RUN_SANDBOX", "read-only"),
            ("CODEX_RUN_NETWORK", "off"),
            ("CODEX_RUN_WRITABLE_ROOTS", "/a::/b"),
            ("CODEX_RUN_BACKEND", "landlock"),
            ("CODEX_RUN_TASK_ID", "job-7"),
            ("CODEX_RUN_GRACE_SECONDS", "3"),
            ("CODEX_RUN_CWD", ""),
            ("PATH", "/bin"),
        ];
        let (args, grace) = apply_env(&[], &env).unwrap();
        assert_eq!(args.sandbox.sandbox, SandboxMode::ReadOnly);
        assert_eq!(args.sandbox.network, Network::Off);
        assert_eq!(
            args.sandbox.writable_roots,
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        assert_eq!(args.sandbox.backend, BackendRequest::Landlock);
        assert_eq!(args.home.task_id.as_deref(), Some("job-7"));
        assert_eq!(args.sandbox.cwd, None, "an empty value is unset");
        assert_eq!(grace, Duration::from_secs(3));

        let (args, _) = apply_env(&["--network", "on", "--task-id", "flag"], &env).unwrap();
        assert_eq!(args.sandbox.network, Network::On);
        assert_eq!(args.home.task_id.as_deref(), Some("flag"));
        assert_eq!(args.sandbox.sandbox, SandboxMode::ReadOnly);
    }

    #[test]
    fn unknown_names_and_bad_values_are_errors_naming_the_variable() {
        let e = apply_env(&[], &[("CODEX_RUN_NETWROK", "off")]).unwrap_err();
        assert!(e.message.contains("CODEX_RUN_NETWROK"), "{e}");
        assert!(e.message.contains("did you mean CODEX_RUN_NETWORK?"), "{e}");
        let e = apply_env(&[], &[("CODEX_RUN_NETWORK", "maybe")]).unwrap_err();
        assert_eq!(
            e.message,
            "CODEX_RUN_NETWORK=maybe: expected one of filtered, on, off, proxy"
        );
        let e = apply_env(
            &[],
            &[
                ("CODEX_RUN_MEMORY", "1"),
                ("CODEX_RUN_REQUIRE_FULL_ISOLATION", "maybe"),
            ],
        )
        .unwrap_err();
        assert_eq!(
            e.message,
            "CODEX_RUN_REQUIRE_FULL_ISOLATION=maybe: expected 1/true/yes/on or 0/false/no/off"
        );
        let (args, _) = apply_env(&[], &[("CODEX_RUN_REQUIRE_FULL_ISOLATION", "Yes")]).unwrap();
        assert!(args.sandbox.require_full_isolation);
        let e = apply_env(&[], &[("CODEX_RUN_GRACE_SECONDS", "-1")]).unwrap_err();
        assert!(e.message.starts_with("CODEX_RUN_GRACE_SECONDS=-1:"), "{e}");
        let e = apply_env(&[], &[("CODEX_RUN_ZZZZZZZZZZZZ", "1")]).unwrap_err();
        assert!(!e.message.contains("did you mean"), "{e}");
        assert!(
            e.message.contains("the known ones are CODEX_RUN_SANDBOX, "),
            "{e}"
        );
    }

    #[test]
    fn every_option_variable_names_a_real_argument() {
        use clap::CommandFactory;
        let cmd = crate::cli::EntrypointCli::command();
        for (name, id) in KNOWN {
            if let Some(id) = id {
                assert!(
                    cmd.get_arguments().any(|a| a.get_id() == id),
                    "{name} -> {id}"
                );
            }
        }
        let _ = crate::cli::EntrypointCli::try_parse_from(["codex-entrypoint"]).unwrap();
        let help = cmd.get_after_help().unwrap().to_string();
        for (name, _) in KNOWN {
            assert!(help.contains(name), "--help does not list {name}");
        }
    }
}
