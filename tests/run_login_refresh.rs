//! The launcher's own refresh before a task (README "ChatGPT logins and token refresh"), without
//! Codex: it refreshes only a ChatGPT login that is due, only with the network on, sends it only
//! to the endpoint in its environment, and a refresh that fails is one line on stderr, the task
//! still runs and the shared login stays byte for byte as it was.

mod common;

use common::token_server::{scene, LoginScene, TokenServer};
use common::*;

fn run_true(s: &LoginScene, url: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = std::process::Command::new(bin());
    cmd.current_dir(&s.h.s.ws)
        .env("XDG_CACHE_HOME", &s.h.s.cache)
        .env("XDG_STATE_HOME", s.h.home.parent().unwrap())
        .env("CODEX_REFRESH_TOKEN_URL_OVERRIDE", url)
        .args(["run", "--backend", "landlock"])
        .args(extra)
        .arg("--shared-home")
        .arg(&s.h.shared)
        .arg("--home")
        .arg(&s.h.home)
        .args(["--", "/bin/true"]);
    output(&mut cmd)
}

fn shared_login(s: &LoginScene) -> Vec<u8> {
    std::fs::read(s.h.shared.join("auth.json")).unwrap()
}

#[test]
fn only_a_due_chatgpt_login_is_refreshed_and_a_failure_changes_nothing() {
    // Due: refreshed once, saved, nothing said.
    let s = scene(TokenServer::expired_login);
    let out = run_true(&s, &s.tokens.url(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
    assert_eq!(s.tokens.refreshes().len(), 1);
    let saved: serde_json::Value = serde_json::from_slice(&shared_login(&s)).unwrap();
    assert_eq!(saved["tokens"]["refresh_token"], "rt-1");
    // Now fresh: the next launch sends nothing.
    let out = run_true(&s, &s.tokens.url(), &[]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(s.tokens.refreshes().len(), 1);

    // Not due, an API key, or the network off: no request.
    for (login, extra) in [
        (
            TokenServer::revoked_login as fn(&TokenServer) -> String,
            &[][..],
        ),
        (TokenServer::expired_login, &["--network", "off"][..]),
        (
            |t: &TokenServer| {
                t.expired_login()
                    .replace("\"chatgpt\"", "\"apikey\"")
                    .replace(
                        "\"OPENAI_API_KEY\": null",
                        "\"OPENAI_API_KEY\": \"sk-test\"",
                    )
            },
            &[][..],
        ),
    ] {
        let s = scene(login);
        let before = shared_login(&s);
        let out = run_true(&s, &s.tokens.url(), extra);
        assert_eq!(out.status.code(), Some(0), "{extra:?} {}", stderr(&out));
        assert_eq!(s.tokens.refreshes().len(), 0, "{extra:?}");
        assert_eq!(shared_login(&s), before, "{extra:?}");
    }

    // A spent refresh token: the user is told to log in again; the task runs; nothing changes.
    let s = scene(|t| t.expired_login().replace("\"rt-0\"", "\"rt-spent\""));
    let before = shared_login(&s);
    let out = run_true(&s, &s.tokens.url(), &[]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(
        e.contains("can no longer be refreshed (refresh_token_reused): log in again"),
        "{e}"
    );
    assert_eq!(shared_login(&s), before);

    // An endpoint that cannot be reached: one line, the task runs, nothing changes.
    let s = scene(TokenServer::expired_login);
    let before = shared_login(&s);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/oauth/token", closed.local_addr().unwrap());
    drop(closed);
    let out = run_true(&s, &url, &[]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("was not refreshed before the task"), "{e}");
    assert_eq!(shared_login(&s), before);
    assert_eq!(s.tokens.refreshes().len(), 0);
}
