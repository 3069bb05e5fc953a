//! Parses the command line for a personality and runs the matching command. This is the one place
//! where a [`Failure`] becomes an exit code and a message on stderr.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser};

use crate::arg0::Personality;
use crate::cli::{EntrypointCli, LauncherCli, LauncherCommand, LinuxSandboxCli, RunCli};
use crate::exit::{Failure, Outcome};
use crate::{completions, entrypoint, helper, install, logging, vendored_bwrap};

/// Runs `personality` with the full argv (argv[0] included). clap handles `--help` and usage
/// errors itself (exit 0 and 2).
pub fn run(personality: Personality, args: Vec<OsString>) -> u8 {
    logging::init();
    crate::exec::steps::clear_ambient_capabilities();
    crate::exit::set_program_name(personality.name());
    let (name, outcome) = match personality {
        Personality::Run => {
            crate::exit::use_launcher_failure_code();
            let matches = parse_or_exit(RunCli::command(), args);
            let cli = RunCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
            ("codex-run", entrypoint::run_with_env(cli.args, &matches))
        }
        Personality::Entrypoint => {
            crate::exit::use_launcher_failure_code();
            let matches = parse_or_exit(EntrypointCli::command(), args);
            let cli = EntrypointCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
            ("codex-entrypoint", entrypoint::start(cli.args, &matches))
        }
        Personality::LinuxSandbox => {
            let cli = LinuxSandboxCli::parse_from(args);
            ("codex-linux-sandbox", helper::run(cli.args))
        }
        Personality::Launcher if is_inner_stage(&args) => {
            // The inner stage under a bubblewrap without --argv0 (`codex-launcher linux-sandbox …
            // --apply-seccomp-then-exec`): parsed as the helper it is, without first building the
            // parser of every subcommand (a quarter of the inner stage's instructions).
            let cli = LinuxSandboxCli::parse_from(args.into_iter().skip(1));
            ("codex-linux-sandbox", helper::run(cli.args))
        }
        Personality::Launcher => {
            // `codex-launcher run|entrypoint` are codex-run and the entrypoint: same exit codes,
            // usage errors included.
            if args.get(1).is_some_and(|a| a == "run" || a == "entrypoint") {
                crate::exit::use_launcher_failure_code();
            }
            let matches = parse_or_exit(LauncherCli::command(), args);
            let cli = LauncherCli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
            ("codex-launcher", launcher(cli, &matches))
        }
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("{name}: error: {failure}");
            failure.exit_code()
        }
    }
}

/// `codex-launcher linux-sandbox … --apply-seccomp-then-exec …`: the launcher's own inner stage.
fn is_inner_stage(args: &[OsString]) -> bool {
    args.get(1).is_some_and(|a| a == "linux-sandbox")
        && args
            .iter()
            .take_while(|a| *a != "--")
            .any(|a| a == "--apply-seccomp-then-exec")
}

/// Parses `args`; a usage error exits with the personality's own failure code (125 for
/// `codex-run` and the entrypoint), `--help` and `--version` with 0.
fn parse_or_exit(command: clap::Command, args: Vec<OsString>) -> clap::ArgMatches {
    command.try_get_matches_from(args).unwrap_or_else(|e| {
        let _ = e.print();
        let code = match (e.use_stderr(), crate::exit::Failure::usage("").exit_code()) {
            (false, _) => 0,
            (true, code) => code,
        };
        std::process::exit(i32::from(code))
    })
}

fn launcher(cli: LauncherCli, matches: &clap::ArgMatches) -> Outcome {
    match cli.command {
        LauncherCommand::Install(args) => install::run(args),
        LauncherCommand::Bwrap(args) => vendored_bwrap::passthrough(&args.args),
        LauncherCommand::Run(args) => {
            crate::exit::use_launcher_failure_code();
            let sub = matches
                .subcommand_matches("run")
                .expect("clap parsed the run subcommand");
            entrypoint::run_with_env(args, sub)
        }
        LauncherCommand::LinuxSandbox(args) => helper::run(args),
        LauncherCommand::Entrypoint(args) => {
            crate::exit::use_launcher_failure_code();
            let sub = matches
                .subcommand_matches("entrypoint")
                .expect("clap parsed the entrypoint subcommand");
            entrypoint::start(args, sub)
        }
        LauncherCommand::PrepareHome(args) => crate::run::prepare_home(args),
        LauncherCommand::Explain(args) => crate::explain::run(args),
        LauncherCommand::Doctor(args) => crate::doctor::run(args),
        LauncherCommand::Lock(args) => lock(args),
        LauncherCommand::Completions(a) => print_bytes(&completions::script(a.shell, a.program)),
        LauncherCommand::Man(a) => print_bytes(&completions::man_page(&a.page)?.roff),
        LauncherCommand::Licenses(a) => print_bytes(crate::licenses::render(a.text).as_bytes()),
        LauncherCommand::Tasks(a) => crate::tasks::list(a),
        LauncherCommand::Gc(a) => crate::tasks::gc(a),
    }
}

fn lock(args: crate::cli::LockArgs) -> Outcome {
    use crate::cli::{LockAction, LockOptions};
    use crate::run::{run_until, Finish};
    match args.action {
        LockAction::Export { dir, run } => {
            let lock = LockOptions {
                export: Some(dir),
                ..LockOptions::default()
            };
            run_until(run.into_run(lock), Finish::ExportOnly)
        }
        LockAction::Verify {
            file,
            allow_codex_version_mismatch,
            run,
        } => {
            let lock = LockOptions {
                replay: Some(file),
                allow_codex_version_mismatch,
                ..LockOptions::default()
            };
            run_until(run.into_run(lock), Finish::VerifyOnly)
        }
    }
}

fn print_bytes(bytes: &[u8]) -> Outcome {
    use std::io::Write;
    std::io::stdout()
        .write_all(bytes)
        .map_err(|e| Failure::refused(format!("cannot write to stdout: {e}")))?;
    Ok(0)
}
