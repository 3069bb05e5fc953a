//! Entry point: pick the personality from argv[0], hand over to it. Nothing else lives here.

use std::process::ExitCode;

use codex_launcher::arg0::Personality;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let personality = Personality::from_argv0(args.first().map(|a| a.as_os_str()));
    codex_launcher::dispatch::run(personality, args)
}
