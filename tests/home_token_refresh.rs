//! Issue 15 acceptance 5 (and item 9): a ChatGPT login whose access token has expired, real Codex
//! 0.169 and 0.171 `exec` under `codex-run` (auto, vendored bubblewrap, Landlock), a local token
//! endpoint with single-use refresh tokens and a model API that refuses stale access tokens.
//! One task refreshes once; then two concurrent tasks both finish their turn with one refresh
//! between them; the shared `credentials/auth.json` ends with the newest refresh token, 0600, and
//! nothing else is left behind. A `.env` planted in a per-task home cannot redirect the refresh.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::codex::codexes;
use common::homes::Homes;
use common::token_server::TokenServer;
use common::*;

const LIMIT: Duration = Duration::from_secs(120);

/// What the shared login must look like after the tasks: the launcher's credential file, a
/// regular file 0600, holding the one refresh token the endpoint still accepts; beside it at most
/// Codex's own (empty) commit lock; no temp file in the shared home or the credential directory.
fn assert_shared_login(h: &Homes, tokens: &TokenServer, context: &str) {
    let dir = h.shared.join("credentials");
    let file = dir.join("auth.json");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert!(meta.file_type().is_file(), "{context}: {meta:?}");
    assert_eq!(meta.mode() & 0o7777, 0o600, "{context}");
    let auth: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(
        auth["tokens"]["refresh_token"].as_str(),
        Some(tokens.live_refresh_token().as_str()),
        "{context}: the shared login does not hold the newest refresh token"
    );
    assert_eq!(
        std::fs::read_link(h.shared.join("auth.json")).unwrap(),
        Path::new("credentials/auth.json"),
        "{context}"
    );
    let names = |d: &Path| -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let left: Vec<String> = names(&dir)
        .into_iter()
        .filter(|n| n != "auth.json" && n != "auth.json.lock")
        .collect();
    assert_eq!(
        left,
        Vec::<String>::new(),
        "{context}: left in credentials/"
    );
    let lock = dir.join("auth.json.lock");
    if lock.exists() {
        assert_eq!(std::fs::metadata(&lock).unwrap().len(), 0, "{context}");
    }
    let temps: Vec<String> = names(&h.shared)
        .into_iter()
        .filter(|n| n.starts_with('.') || n.contains(".tmp"))
        .collect();
    assert_eq!(
        temps,
        Vec::<String>::new(),
        "{context}: temp files in the shared home"
    );
}

/// Runs the launches to completion and checks each finished its turn with a token the model API
/// accepted, and the model API refused none.
fn assert_turns_completed(
    outs: Vec<std::process::Output>,
    mock: &mock_model::MockModel,
    context: &str,
) {
    for out in &outs {
        let (o, e) = (stdout(out), stderr(out));
        assert_eq!(out.status.code(), Some(0), "{context}\n{o}\n{e}");
        assert!(o.contains(mock_model::FINAL_MESSAGE), "{context}\n{o}\n{e}");
        // Neither Codex ("…refresh token was already used…") nor the launcher complains.
        assert!(!e.contains("refresh token"), "{context}\n{e}");
        assert!(!e.contains("ChatGPT login"), "{context}\n{e}");
    }
    let refused: Vec<_> = mock
        .requests()
        .into_iter()
        .filter(|r| r.status == 401)
        .collect();
    assert!(
        refused.is_empty(),
        "{context}: model API refused {refused:?}"
    );
}

#[test]
fn an_expired_login_is_refreshed_once_per_launch_and_concurrent_tasks_share_it() {
    for (version, codex) in codexes() {
        for backend in ["auto", "bwrap-vendored", "landlock"] {
            let context = format!("{version} {backend}");
            let scene = common::token_server::scene(TokenServer::expired_login);
            let (h, tokens, mock) = (&scene.h, &scene.tokens, &scene.mock);
            let evil = common::token_server::start();
            let run = |home: &Path| scene.run(home, backend, &version, &codex);

            // One task, expired login: exactly one refresh, and the task works.
            let out = output_within(&mut run(&h.home), LIMIT);
            assert_turns_completed(vec![out], mock, &context);
            let refreshes = tokens.refreshes();
            assert_eq!(refreshes.len(), 1, "{context}: {refreshes:?}");
            assert_eq!(refreshes[0].refresh_token, "rt-0", "{context}");
            assert_eq!(refreshes[0].status, 200, "{context}");
            assert!(h.s.ws.join("tool-ran").exists(), "{context}");
            assert_shared_login(h, tokens, &context);

            // The first task's home is the task's to write: it plants an `.env` and a config that
            // would send the next refresh to a collector.
            std::fs::write(
                h.home.join(".env"),
                format!("CODEX_REFRESH_TOKEN_URL_OVERRIDE={}\n", evil.url()),
            )
            .unwrap();

            // The login expires again (the live refresh token stays); two tasks start together.
            std::fs::write(
                h.shared.join("credentials/auth.json"),
                tokens.expired_login(),
            )
            .unwrap();
            let second = h.home.parent().unwrap().join("codex-home-b");
            let mut a = run(&h.home);
            let mut b = run(&second);
            let (a, b) = std::thread::scope(|s| {
                let a = s.spawn(|| output_within(&mut a, LIMIT));
                let b = s.spawn(|| output_within(&mut b, LIMIT));
                (a.join().unwrap(), b.join().unwrap())
            });
            assert_turns_completed(vec![a, b], mock, &context);
            let refreshes = tokens.refreshes();
            // One refresh for the pair: each task's share is at most one, and no refresh token
            // was spent twice (a reused one is answered 401).
            assert_eq!(refreshes.len(), 2, "{context}: {refreshes:?}");
            assert_eq!(refreshes[1].status, 200, "{context}: {refreshes:?}");
            assert_eq!(refreshes[1].refresh_token, "rt-1", "{context}");
            assert_eq!(
                evil.refreshes().len(),
                0,
                "{context}: the planted .env was used"
            );
            assert_shared_login(h, tokens, &context);
        }
    }
}
