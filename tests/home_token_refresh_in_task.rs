//! Issue 15 item 9: a refresh Codex makes *inside* a task reaches the shared login, once. The
//! login is fresh (so the launcher does not refresh it) but revoked server-side: the model API
//! answers 401, Codex refreshes on its recovery path and saves through the per-task `auth.json`
//! link into `<shared>/credentials/`, which the outer layer (vendored bubblewrap, Landlock, auto)
//! keeps writable. Before the credential directory, the save failed and Codex re-sent the same
//! refresh token 25–30 times in one short session.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use common::codex::codexes;
use common::token_server::TokenServer;
use common::*;

#[test]
fn a_refresh_inside_the_task_is_made_once_and_saved_to_the_shared_login() {
    for (version, codex) in codexes() {
        for backend in ["auto", "bwrap-vendored", "landlock"] {
            let context = format!("{version} {backend}");
            let scene = common::token_server::scene(TokenServer::revoked_login);
            let (h, tokens, mock) = (&scene.h, &scene.tokens, &scene.mock);
            let mut cmd = scene.run(&h.home, backend, &version, &codex);
            let out = output_within(&mut cmd, Duration::from_secs(120));
            let (o, e) = (stdout(&out), stderr(&out));
            assert_eq!(out.status.code(), Some(0), "{context}\n{o}\n{e}");
            assert!(o.contains(mock_model::FINAL_MESSAGE), "{context}\n{o}\n{e}");
            let refreshes = tokens.refreshes();
            assert_eq!(refreshes.len(), 1, "{context}: {refreshes:?}\n{e}");
            assert_eq!(refreshes[0].status, 200, "{context}: {refreshes:?}");
            // Codex's own request (the launcher sends no refresh_reason).
            assert!(refreshes[0].reason.is_some(), "{context}: {refreshes:?}");
            let statuses: Vec<u16> = mock
                .requests()
                .iter()
                .filter(|r| r.path.ends_with("/responses"))
                .map(|r| r.status)
                .collect();
            // Codex's recovery: a 401, a reload from disk and a retry (401 again), then the
            // refresh and a retry that the model API accepts; nothing refused after that.
            let refused = statuses.iter().take_while(|s| **s == 401).count();
            assert!((1..=2).contains(&refused), "{context}: {statuses:?}");
            assert!(
                statuses.len() > refused && statuses[refused..].iter().all(|s| *s == 200),
                "{context}: {statuses:?}"
            );

            let file = h.shared.join("credentials/auth.json");
            let meta = std::fs::symlink_metadata(&file).unwrap();
            assert!(meta.file_type().is_file(), "{context}");
            assert_eq!(meta.mode() & 0o7777, 0o600, "{context}");
            let auth: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
            assert_eq!(
                auth["tokens"]["refresh_token"].as_str(),
                Some(tokens.live_refresh_token().as_str()),
                "{context}"
            );
        }
    }
}
