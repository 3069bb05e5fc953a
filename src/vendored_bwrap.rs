//! `codex-launcher bwrap ARGS...`: the bubblewrap linked into this binary, for diagnosis and tests.

use std::ffi::OsString;

/// Prints our version banner for `--version` (bubblewrap's line first, so tools that parse
/// `bwrap --version` still work), the license for `--license`, else enters bubblewrap.
pub fn passthrough(args: &[OsString]) -> ! {
    match args.first().and_then(|a| a.to_str()) {
        Some("--version") if args.len() == 1 => {
            println!("bubblewrap {}", codex_launcher_bwrap::VERSION);
            println!(
                "vendored in codex-launcher {} (built from the {} registry package, unmodified upstream sources)",
                env!("CARGO_PKG_VERSION"),
                codex_launcher_bwrap::SOURCE
            );
            println!("license: LGPL-2.1-or-later; print it with `codex-launcher bwrap --license`");
            std::process::exit(0)
        }
        Some("--license") if args.len() == 1 => {
            print!("{}", codex_launcher_bwrap::LICENSE_TEXT);
            std::process::exit(0)
        }
        _ => codex_launcher_bwrap::enter(args),
    }
}
