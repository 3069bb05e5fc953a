//! `codex-launcher licenses`: what this binary contains and under which licenses. The binary links
//! LGPL-2.1-or-later bubblewrap, whose license asks that a recipient can learn what is linked,
//! read the license and find the source; a binary handed on without the repository still says so.

/// The project's notice (third-party code, versions, where the sources are).
pub const NOTICE: &str = include_str!("../NOTICE");
/// The project's license, Apache-2.0.
pub const LICENSE: &str = include_str!("../LICENSE");

/// The text `licenses` prints: the notice, and with `text` both license texts after it.
pub fn render(text: bool) -> String {
    let mut out = format!(
        "codex-launcher {} contains bubblewrap {} ({}).\n\n{NOTICE}",
        env!("CARGO_PKG_VERSION"),
        codex_launcher_bwrap::VERSION,
        codex_launcher_bwrap::SOURCE
    );
    if text {
        out.push_str("\n==== codex-launcher: Apache License 2.0 ====\n\n");
        out.push_str(LICENSE);
        out.push_str("\n==== bubblewrap: GNU Lesser General Public License 2.1 ====\n\n");
        out.push_str(codex_launcher_bwrap::LICENSE_TEXT);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_names_the_bubblewrap_that_is_linked() {
        assert!(
            NOTICE.contains(&format!("bubblewrap {}", codex_launcher_bwrap::VERSION)),
            "NOTICE names another bubblewrap than {}",
            codex_launcher_bwrap::VERSION
        );
        assert!(
            NOTICE.contains(codex_launcher_bwrap::SOURCE),
            "NOTICE does not name the source package {}",
            codex_launcher_bwrap::SOURCE
        );
        assert!(NOTICE.contains("vendor/bwrap"));
    }

    #[test]
    fn the_repository_copy_of_the_lgpl_is_the_one_compiled_in() {
        // The build copies COPYING from the registry package; the repository keeps it for readers
        // of the source tree. They must not drift apart.
        let copy = include_str!("../licenses/bubblewrap-COPYING");
        assert_eq!(copy, codex_launcher_bwrap::LICENSE_TEXT);
        assert!(copy.contains("GNU LESSER GENERAL PUBLIC LICENSE"));
    }

    #[test]
    fn the_full_text_holds_both_licenses() {
        let text = render(true);
        assert!(text.contains("Apache License\n                        Version 2.0"));
        assert!(text.contains("Version 2.1, February 1999"));
        assert!(!render(false).contains("Version 2.1, February 1999"));
    }
}
