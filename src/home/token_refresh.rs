//! The launcher refreshes a ChatGPT login that is due *before* a task starts, once, under a lock
//! every launch of the same shared home takes (issue 15 acceptance 5, reference
//! codex-config-and-auth.md §4.3, §5(2)C).
//!
//! Codex posts its refresh before it locks anything and does not single-flight across processes,
//! and OpenAI refresh tokens are single-use: two tasks that start with an expiring token would
//! both spend the same refresh token and one of them would be logged out. Here the first launch
//! refreshes and saves; the ones waiting on the lock read the saved login, find it fresh and
//! start without a request. Codex inside then starts with a token that has most of its lifetime
//! left, so it rarely refreshes at all; when it does (a task longer than that margin, a 401), it
//! saves into the credential directory as before.
//!
//! The token endpoint is `CODEX_REFRESH_TOKEN_URL_OVERRIDE` from the launcher's own environment
//! (what Codex itself reads), else OpenAI's: never anything a task could have written.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::credentials;
use super::login::{self, Login};
use crate::fs::Dir;

/// Codex's own default token endpoint.
const TOKEN_URL: &str = "https://auth.openai.com/oauth/token";
/// The variable Codex reads to send refreshes elsewhere (real environment only).
pub const TOKEN_URL_VAR: &str = "CODEX_REFRESH_TOKEN_URL_OVERRIDE";
/// A larger credential file is not a login.
const MAX_AUTH_BYTES: u64 = 1 << 20;
/// Launches queue on the lock behind a refresh, so a dead endpoint must not hold them long.
const TIMEOUT: Duration = Duration::from_secs(10);

/// What the refresh before a launch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// No ChatGPT login with a readable expiry, or one that is not due.
    NotDue,
    Refreshed,
    /// The token endpoint refused the refresh token for good: the user must log in again.
    LoggedOut {
        code: String,
    },
    /// Anything else (network, an odd answer): Codex will try again itself.
    Failed {
        why: String,
    },
}

/// Refreshes the login in `<shared>/credentials/auth.json` when it is due, holding the launcher's
/// credential lock for `shared` throughout (read, request, write), so concurrent launches make
/// one request between them.
pub fn refresh_if_due(shared: &Path, now: u64) -> Outcome {
    match locked_refresh(shared, now) {
        Ok(outcome) => outcome,
        Err(why) => Outcome::Failed { why },
    }
}

/// The lock lives where the per-home locks do (outside every sandbox), keyed by the credential
/// directory's real path, so two spellings of one shared home share it.
fn locked_refresh(shared: &Path, now: u64) -> Result<Outcome, String> {
    let dir_path = shared.join(credentials::DIR);
    let key = dir_path.canonicalize().unwrap_or_else(|_| dir_path.clone());
    let Some((_, auth)) = read_login(shared)? else {
        return Ok(Outcome::NotDue);
    };
    if !Login::of(&auth).is_some_and(|l| l.due(now as i64)) {
        return Ok(Outcome::NotDue);
    }
    let _lock = super::home_lock::take(&key).map_err(|e| e.to_string())?;
    // Read again under the lock: a launch that held it before us may have refreshed already.
    let Some((dir, auth)) = read_login(shared)? else {
        return Ok(Outcome::NotDue);
    };
    let Some(login) = Login::of(&auth).filter(|l| l.due(now as i64)) else {
        return Ok(Outcome::NotDue);
    };
    let url = std::env::var(TOKEN_URL_VAR).unwrap_or_else(|_| TOKEN_URL.to_string());
    let (status, body) = post(&url, &login.request_body())?;
    if !(200..300).contains(&status) {
        let code = login::error_code(&body);
        return Ok(match code {
            Some(code) if login::is_permanent(&code) => Outcome::LoggedOut { code },
            code => Outcome::Failed {
                why: format!(
                    "{url} answered {status}{}",
                    code.map(|c| format!(" ({c})")).unwrap_or_default()
                ),
            },
        });
    }
    let bytes = login::refreshed(&auth, &body, &crate::netproxy::log::utc(now))
        .map_err(|e| e.to_string())?;
    dir.write_file("auth.json", &bytes, 0o600)
        .map_err(|e| format!("the refreshed login could not be saved: {e}"))?;
    Ok(Outcome::Refreshed)
}

/// The credential directory and the parsed login, when the shared login is the launcher's own
/// (`credentials/auth.json`, a regular file of ours, 0600, as [`credentials::ensure`] left it).
/// Opened without following symlinks: a task that could write the directory cannot send the
/// launcher's write elsewhere.
fn read_login(shared: &Path) -> Result<Option<(Dir, Value)>, String> {
    let dir = Dir::anchor(shared)
        .and_then(|d| d.open_dir(credentials::DIR))
        .map_err(|e| e.to_string())?;
    let Some(dir) = dir else { return Ok(None) };
    let entry = dir.entry("auth.json").map_err(|e| e.to_string())?;
    // Only the file as credentials::ensure leaves it: a hard link's other name (in a workspace,
    // say) would let a task choose what is refreshed and read what is written.
    if !entry.is_some_and(|e| credentials::is_sound(&e) && e.size <= MAX_AUTH_BYTES) {
        return Ok(None);
    }
    let Some(bytes) = dir
        .read_private_file("auth.json", MAX_AUTH_BYTES)
        .map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    Ok(serde_json::from_slice(&bytes).ok().map(|auth| (dir, auth)))
}

/// POSTs `body` (JSON) to `url`: the status and the answer's text.
fn post(url: &str, body: &str) -> Result<(u16, String), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .post(url)
        .header("content-type", "application/json")
        .send(body)
        .map_err(|e| format!("{url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_AUTH_BYTES)
        .read_to_string()
        .map_err(|e| format!("{url}: {e}"))?;
    Ok((status, text))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An access token that expired at Unix time 1000, for a login that is due at any later time.
    const DUE: &str = r#"{"auth_mode":"chatgpt","tokens":{"access_token":"e30.eyJleHAiOjEwMDB9.s","refresh_token":"rt"}}"#;

    #[test]
    fn only_a_private_regular_credential_file_is_read() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path();
        let dir = shared.join(credentials::DIR);
        std::fs::create_dir(&dir).unwrap();
        assert_eq!(
            Login::of(&serde_json::from_str(DUE).unwrap()).map(|l| l.due(2000)),
            Some(true)
        );
        // A symlink a task planted: never followed, so nothing is sent or written.
        let elsewhere = shared.join("elsewhere.json");
        std::fs::write(&elsewhere, DUE).unwrap();
        std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink(&elsewhere, dir.join("auth.json")).unwrap();
        assert!(read_login(shared).unwrap().is_none());
        assert_eq!(refresh_if_due(shared, 2000), Outcome::NotDue);
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), DUE);
        // A file others can read or write is not the launcher's login either.
        std::fs::remove_file(dir.join("auth.json")).unwrap();
        std::fs::write(dir.join("auth.json"), DUE).unwrap();
        std::fs::set_permissions(
            dir.join("auth.json"),
            std::fs::Permissions::from_mode(0o644),
        )
        .unwrap();
        assert!(read_login(shared).unwrap().is_none());
        std::fs::set_permissions(
            dir.join("auth.json"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        assert!(read_login(shared).unwrap().is_some());
    }
}
