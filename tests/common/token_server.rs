//! A local stand-in for OpenAI's OAuth token endpoint (Codex reads
//! `CODEX_REFRESH_TOKEN_URL_OVERRIDE`), with the property that matters: refresh tokens are
//! single-use. A refresh with the one live refresh token rotates it and issues a new access token;
//! any other refresh token, a spent one included, gets the 401 OpenAI answers
//! (`refresh_token_reused`, the code Codex recognises as "log in again"). It also issues the
//! logins the tests start from and judges the bearer tokens the mock model API receives.

use std::collections::HashSet;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub const ACCOUNT: &str = "acc-launcher-test";
const TEN_DAYS: i64 = 10 * 86_400;

/// One refresh request: the refresh token sent and the status answered.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub refresh_token: String,
    pub reason: Option<String>,
    pub status: u16,
}

#[derive(Default)]
struct State {
    live_refresh: String,
    generation: u32,
    valid_access: HashSet<String>,
    refreshes: Vec<Refresh>,
}

pub struct TokenServer {
    pub port: u16,
    state: Arc<Mutex<State>>,
}

pub fn start() -> TokenServer {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the token endpoint");
    let port = listener.local_addr().unwrap().port();
    let state = Arc::new(Mutex::new(State {
        live_refresh: "rt-0".into(),
        ..State::default()
    }));
    let served = state.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let state = served.clone();
            std::thread::spawn(move || serve(stream, &state));
        }
    });
    TokenServer { port, state }
}

impl TokenServer {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/oauth/token", self.port)
    }

    /// Every refresh request so far.
    pub fn refreshes(&self) -> Vec<Refresh> {
        self.state.lock().unwrap().refreshes.clone()
    }

    /// The only refresh token the endpoint still accepts.
    pub fn live_refresh_token(&self) -> String {
        self.state.lock().unwrap().live_refresh.clone()
    }

    /// A check for the mock model API: the bearer token is an access token this endpoint issued,
    /// not yet expired or revoked.
    pub fn check(&self) -> super::mock_model::TokenCheck {
        let state = self.state.clone();
        Arc::new(move |bearer: Option<&str>| {
            bearer.is_some_and(|b| {
                state.lock().unwrap().valid_access.contains(b)
                    && claims(b).is_some_and(|c| c["exp"].as_i64().unwrap_or(0) > now())
            })
        })
    }

    /// An `auth.json` for the live refresh token with an access token that expired an hour ago
    /// (so any refresh before or inside a task must spend the live refresh token).
    pub fn expired_login(&self) -> String {
        let state = self.state.lock().unwrap();
        login(
            &jwt(now() - TEN_DAYS, now() - 3600, state.generation),
            &state.live_refresh,
        )
    }

    /// An `auth.json` for the live refresh token with a fresh access token that the model API
    /// refuses (revoked server-side): only a refresh on Codex's 401 path gets the task through.
    pub fn revoked_login(&self) -> String {
        let state = self.state.lock().unwrap();
        login(
            &jwt(now(), now() + TEN_DAYS, 1000 + state.generation),
            &state.live_refresh,
        )
    }
}

fn login(access: &str, refresh: &str) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "auth_mode": "chatgpt",
        "OPENAI_API_KEY": null,
        "tokens": {
            "id_token": access,
            "access_token": access,
            "refresh_token": refresh,
            "account_id": ACCOUNT,
        },
        "last_refresh": "2026-01-01T00:00:00Z",
    }))
    .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A JWT with the claims Codex reads from ChatGPT logins (unsigned: Codex does not verify).
fn jwt(iat: i64, exp: i64, generation: u32) -> String {
    let claims = serde_json::json!({
        "iat": iat, "exp": exp, "jti": format!("gen-{generation}"),
        "email": "user@example.com",
        "https://api.openai.com/auth": {
            "chatgpt_plan_type": "pro", "chatgpt_account_id": ACCOUNT, "chatgpt_user_id": "user-1"
        }
    });
    format!(
        "{}.{}.sig",
        base64url(br#"{"alg":"none","typ":"JWT"}"#),
        base64url(claims.to_string().as_bytes())
    )
}

fn claims(jwt: &str) -> Option<serde_json::Value> {
    let payload = jwt.split('.').nth(1)?;
    let alphabet = ALPHABET;
    let mut bits = Vec::new();
    for c in payload.bytes() {
        let v = alphabet.iter().position(|a| *a == c)? as u8;
        bits.extend((0..6).rev().map(|i| v >> i & 1));
    }
    let bytes: Vec<u8> = bits
        .chunks_exact(8)
        .map(|b| b.iter().fold(0, |acc, bit| acc << 1 | bit))
        .collect();
    serde_json::from_slice(&bytes).ok()
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn base64url(bytes: &[u8]) -> String {
    let bits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1))
        .collect();
    bits.chunks(6)
        .map(|six| {
            let v = (0..6).fold(0usize, |acc, i| {
                acc << 1 | *six.get(i).unwrap_or(&0) as usize
            });
            ALPHABET[v] as char
        })
        .collect()
}

fn serve(stream: TcpStream, state: &Mutex<State>) {
    let Some((method, _, _, body)) = super::mock_model::read_request(&stream) else {
        return;
    };
    let request: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    let sent = request["refresh_token"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (status, answer) = {
        let mut s = state.lock().unwrap();
        let answer = if method == "POST"
            && request["grant_type"] == "refresh_token"
            && !sent.is_empty()
            && sent == s.live_refresh
        {
            s.generation += 1;
            let access = jwt(now(), now() + TEN_DAYS, s.generation);
            s.valid_access.insert(access.clone());
            s.live_refresh = format!("rt-{}", s.generation);
            (
                200,
                serde_json::json!({"id_token": access, "access_token": access,
                    "refresh_token": s.live_refresh, "expires_in": TEN_DAYS}),
            )
        } else {
            (
                401,
                serde_json::json!({"error": {
                    "message": "Your refresh token has already been used to generate a new access token. Please try signing in again.",
                    "type": "invalid_request_error", "param": null, "code": "refresh_token_reused"}}),
            )
        };
        s.refreshes.push(Refresh {
            refresh_token: sent,
            reason: request["refresh_reason"].as_str().map(str::to_string),
            status: answer.0,
        });
        answer
    };
    let body = answer.to_string();
    let reason = if status == 200 { "OK" } else { "Unauthorized" };
    let mut out = stream;
    let _ = out.write_all(
        format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// A shared home logged in with ChatGPT (`login` writes its `auth.json` from the endpoint's
/// state), whose config selects a mock model API that accepts only this endpoint's live access
/// tokens; the mock's tool call writes `tool-ran` in the workspace.
pub struct LoginScene {
    pub tokens: TokenServer,
    pub mock: super::mock_model::MockModel,
    pub h: super::homes::Homes,
}

pub fn scene(login: impl Fn(&TokenServer) -> String) -> LoginScene {
    let tokens = start();
    let mock = super::mock_model::start_checking("echo ok > tool-ran", tokens.check());
    let h = super::homes::homes();
    h.write_shared("config.toml", mock.chatgpt_provider_config());
    h.write_shared("auth.json", login(&tokens));
    LoginScene { tokens, mock, h }
}

impl LoginScene {
    /// `codex-run` (`backend`) running Codex `exec` with per-task home `home`; Codex and the
    /// launcher send refreshes to this endpoint.
    pub fn run(
        &self,
        home: &std::path::Path,
        backend: &str,
        version: &str,
        codex: &std::path::Path,
    ) -> std::process::Command {
        let mut cmd =
            super::codex::codex_exec_under_codex_run(&self.h, home, backend, version, codex);
        cmd.env("CODEX_REFRESH_TOKEN_URL_OVERRIDE", self.tokens.url());
        cmd
    }
}
