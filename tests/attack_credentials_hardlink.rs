//! Class: the shared login as an alias (red-team r4 04). Under Landlock, Codex's commands can write
//! `credentials/` and make `credentials/auth.json` a hard link to a file in the workspace; every
//! later task of that workspace, on any backend and whatever its command, would then rewrite the
//! user's login through the workspace name. The next launch copies the login into a file of its
//! own (the alias is broken, and reported); a login someone else owns is refused.

mod common;

use std::os::unix::fs::MetadataExt;

use common::scene::*;
use common::*;

const LOGIN: &str = r#"{"auth_mode":"apikey","OPENAI_API_KEY":"sk-user-not-real"}"#;

#[test]
fn a_hard_linked_login_is_copied_apart_before_any_later_task_runs() {
    for variant in Variant::all() {
        if variant.backend == Backend::Landlock || variant.backend == Backend::NoUserns {
            continue; // stage 3 is a task that must not reach credentials/ at all
        }
        let s = Scene::new(variant);
        let mut rng = Rng::from_time(&format!("{variant:?}"));
        s.write_shared_login(LOGIN);
        s.codex_run_ok("true");
        let cred = s.shared.join("credentials");
        let alias = s.ws.join(format!(".{}", rng.name(7)));
        let extra = cred.join(format!("auth.json.{}", rng.name(3)));
        // Stage 1, as a Landlock Codex command would: the login and a file beside it become hard
        // links to workspace files.
        s.host_shell(&format!(
            "cd '{c}' && cp auth.json '{a}' && ln -f '{a}' auth.json && echo x > '{a}2' && ln '{a}2' '{e}'",
            c = cred.display(),
            a = alias.display(),
            e = extra.display()
        ));
        assert_eq!(
            std::fs::metadata(cred.join("auth.json")).unwrap().nlink(),
            2
        );
        // Stage 2 + 3: an ordinary launch whose task writes the workspace names.
        let out = s.codex_run(&format!(
            "echo ATTACKER > '{a}' && echo ATTACKER > '{a}2'",
            a = alias.display()
        ));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("hard link"), "{}", stderr(&out));
        let login = cred.join("auth.json");
        assert_eq!(
            std::fs::read_to_string(&login).unwrap(),
            LOGIN,
            "{variant:?}"
        );
        assert_eq!(
            std::fs::read_to_string(s.shared.join("auth.json")).unwrap(),
            LOGIN
        );
        assert_eq!(std::fs::metadata(&login).unwrap().nlink(), 1);
        assert_eq!(
            std::fs::read_to_string(&extra).unwrap(),
            "x\n",
            "{variant:?}"
        );
        assert_eq!(std::fs::metadata(&extra).unwrap().nlink(), 1);
    }
}

#[test]
fn a_login_someone_else_owns_is_refused() {
    if !is_root() {
        return skip("chown needs root");
    }
    for variant in Variant::all() {
        if variant.backend != Backend::Auto {
            continue;
        }
        let s = Scene::new(variant);
        s.write_shared_login(LOGIN);
        s.codex_run_ok("true");
        let login = s.shared.join("credentials/auth.json");
        let other = if variant.uid == 0 { 65534 } else { 0 };
        std::os::unix::fs::chown(&login, Some(other), Some(other)).unwrap();
        let out = s.codex_run("echo ran");
        assert_eq!(
            out.status.code(),
            Some(125),
            "{variant:?}: {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(&format!("owned by uid {other}")),
            "{}",
            stderr(&out)
        );
    }
}
