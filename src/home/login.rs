//! The ChatGPT login in `auth.json`, as far as the launcher's refresh needs it (reference
//! codex-config-and-auth.md §4.1, §4.4): whether it is due for a refresh, and the file after one.
//! Pure: no clock, no files, no network.
//!
//! The file may have been written by a task (Landlock and Seatbelt leave the credential directory
//! writable to the commands Codex runs), so nothing here trusts it beyond what it takes to send its
//! refresh token to the token endpoint the *user's* environment names.

use serde_json::{Map, Value};

/// The OAuth client Codex CLI logins belong to (the `client_id` of their refresh requests).
pub const CLIENT_ID: &str = "app_EMoamEEZ73f0CkXaXp7hrann";

/// Refresh when less than this share of the access token's lifetime is left...
const LIFETIME_DIVISOR: i64 = 4;
/// ...but never with less than this left (Codex itself refreshes within about 5 minutes of expiry,
/// and a refresh that races Codex's may burn a single-use refresh token).
const MIN_MARGIN_SECS: i64 = 15 * 60;
/// When the token carries no `iat`, the lifetime is unknown.
const DEFAULT_MARGIN_SECS: i64 = 60 * 60;

/// A ChatGPT login found in `auth.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Login {
    pub refresh_token: String,
    /// The access token's `exp` (Unix seconds).
    pub expires: i64,
    /// Its `iat`, when present and before `expires`.
    pub issued: Option<i64>,
}

impl Login {
    /// The ChatGPT login in `auth` (the parsed file), if it is one whose access token carries an
    /// expiry: API-key logins and anything unreadable are left to Codex.
    pub fn of(auth: &Value) -> Option<Login> {
        let mode = match auth.get("auth_mode") {
            Some(Value::String(m)) => m.as_str(),
            _ if auth.get("OPENAI_API_KEY").is_some_and(|k| !k.is_null()) => "apikey",
            _ => "chatgpt",
        };
        if mode != "chatgpt" {
            return None;
        }
        let tokens = auth.get("tokens")?;
        let refresh_token = tokens.get("refresh_token")?.as_str()?;
        let claims = jwt_claims(tokens.get("access_token")?.as_str()?)?;
        let expires = claims.get("exp")?.as_i64()?;
        let issued = claims
            .get("iat")
            .and_then(Value::as_i64)
            .filter(|i| *i < expires);
        (!refresh_token.is_empty()).then(|| Login {
            refresh_token: refresh_token.to_string(),
            expires,
            issued,
        })
    }

    /// Whether to refresh before a task starts, at Unix time `now`: early enough that a task
    /// rarely needs a refresh of its own (a quarter of the token's lifetime before it ends: 2.5
    /// days of a token issued for 10 days), and only then.
    pub fn due(&self, now: i64) -> bool {
        let margin = match self.issued {
            Some(iat) => ((self.expires - iat) / LIFETIME_DIVISOR).max(MIN_MARGIN_SECS),
            None => DEFAULT_MARGIN_SECS,
        };
        self.expires - now < margin
    }

    /// The body of the refresh request.
    pub fn request_body(&self) -> String {
        serde_json::json!({
            "client_id": CLIENT_ID,
            "grant_type": "refresh_token",
            "refresh_token": self.refresh_token,
        })
        .to_string()
    }
}

/// Why the token endpoint refused a refresh, from its error body (`{"error": {"code": …}}`,
/// `{"error": "…"}` or `{"code": …}`).
pub fn error_code(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let code = match v.get("error") {
        Some(Value::Object(e)) => e.get("code"),
        Some(code @ Value::String(_)) => Some(code),
        _ => v.get("code"),
    };
    code.and_then(Value::as_str).map(str::to_string)
}

/// Codes after which only a new login helps (the refresh token is spent, expired or revoked).
pub fn is_permanent(code: &str) -> bool {
    matches!(
        code.to_ascii_lowercase().as_str(),
        "refresh_token_reused" | "refresh_token_expired" | "refresh_token_invalidated"
    )
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResponseError {
    #[error("the token endpoint's answer is not a JSON object")]
    NotJson,
    #[error("the token endpoint's answer has no access_token")]
    NoAccessToken,
}

/// `auth` (the file as read under the lock) with the tokens of a successful refresh `response`
/// and `last_refresh` set to `now_rfc3339`; every other field is kept as it was, so nothing the
/// user's Codex stores there is lost. Pretty JSON, as Codex writes it.
pub fn refreshed(
    auth: &Value,
    response: &str,
    now_rfc3339: &str,
) -> Result<Vec<u8>, ResponseError> {
    let Ok(Value::Object(answer)) = serde_json::from_str::<Value>(response) else {
        return Err(ResponseError::NotJson);
    };
    if !answer.get("access_token").is_some_and(Value::is_string) {
        return Err(ResponseError::NoAccessToken);
    }
    let mut out = auth.clone();
    let root = out.as_object_mut().ok_or(ResponseError::NotJson)?;
    let tokens = root
        .entry("tokens")
        .or_insert_with(|| Value::Object(Map::new()));
    if !tokens.is_object() {
        *tokens = Value::Object(Map::new());
    }
    let tokens = tokens.as_object_mut().expect("made an object above");
    for key in ["id_token", "access_token", "refresh_token"] {
        if let Some(v @ Value::String(_)) = answer.get(key) {
            tokens.insert(key.to_string(), v.clone());
        }
    }
    root.insert("last_refresh".into(), Value::String(now_rfc3339.into()));
    let mut bytes = serde_json::to_vec_pretty(&out).expect("a JSON value serialises");
    bytes.push(b'\n');
    Ok(bytes)
}

/// The claims of a JWT (its middle part); the signature is not checked: the launcher only reads
/// the expiry to decide when to refresh, it grants nothing on it.
fn jwt_claims(jwt: &str) -> Option<Value> {
    let payload = jwt.split('.').nth(1)?;
    serde_json::from_slice(&base64url_decode(payload)?).ok()
}

fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(bytes: &[u8]) -> String {
        const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            }
        }
        out
    }

    fn jwt(claims: Value) -> String {
        format!(
            "{}.{}.sig",
            b64(b"{\"alg\":\"none\"}"),
            b64(claims.to_string().as_bytes())
        )
    }

    fn auth(access: &str) -> Value {
        serde_json::json!({
            "auth_mode": "chatgpt", "OPENAI_API_KEY": null, "agent_identity": {"keep": 1},
            "tokens": {"id_token": "x", "access_token": access, "refresh_token": "rt-1", "account_id": "acc"},
            "last_refresh": "2026-01-01T00:00:00Z"
        })
    }

    #[test]
    fn due_a_quarter_of_the_lifetime_before_expiry_and_not_before() {
        let ten_days = 10 * 86_400;
        let a = auth(&jwt(
            serde_json::json!({"exp": 1_000_000 + ten_days, "iat": 1_000_000}),
        ));
        let login = Login::of(&a).unwrap();
        assert_eq!(login.refresh_token, "rt-1");
        let expires = 1_000_000 + ten_days;
        assert!(!login.due(expires - ten_days / 4 - 1));
        assert!(login.due(expires - ten_days / 4 + 1));
        assert!(login.due(expires + 5));
        // A short-lived token still gets the minimum margin; one without iat the default.
        let short = Login {
            issued: Some(expires - 600),
            ..login.clone()
        };
        assert!(short.due(expires - MIN_MARGIN_SECS + 1));
        let no_iat = Login {
            issued: None,
            ..login
        };
        assert!(!no_iat.due(expires - DEFAULT_MARGIN_SECS - 1));
        assert!(no_iat.due(expires - DEFAULT_MARGIN_SECS + 1));
    }

    #[test]
    fn api_keys_and_unreadable_tokens_are_left_to_codex() {
        let exp = jwt(serde_json::json!({"exp": 5}));
        let mut a = auth(&exp);
        a["auth_mode"] = "apikey".into();
        assert_eq!(Login::of(&a), None);
        let mut a = auth(&exp);
        a.as_object_mut().unwrap().remove("auth_mode");
        assert!(Login::of(&a).is_some());
        a["OPENAI_API_KEY"] = "sk-x".into();
        assert_eq!(Login::of(&a), None);
        for access in [
            "opaque",
            "a.!!!.c",
            &jwt(serde_json::json!({"sub": "no exp"})),
        ] {
            assert_eq!(Login::of(&auth(access)), None, "{access}");
        }
        let mut a = auth(&exp);
        a["tokens"]["refresh_token"] = "".into();
        assert_eq!(Login::of(&a), None);
    }

    #[test]
    fn a_refresh_replaces_the_tokens_and_keeps_everything_else() {
        let a = auth("old");
        let out = refreshed(
            &a,
            r#"{"access_token":"new-a","refresh_token":"rt-2","id_token":"new-i","extra":1}"#,
            "2026-11-30T13:00:00Z",
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tokens"]["access_token"], "new-a");
        assert_eq!(v["tokens"]["refresh_token"], "rt-2");
        assert_eq!(v["tokens"]["id_token"], "new-i");
        assert_eq!(v["tokens"]["account_id"], "acc");
        assert_eq!(v["agent_identity"], serde_json::json!({"keep": 1}));
        assert_eq!(v["last_refresh"], "2026-11-30T13:00:00Z");
        assert!(v.get("extra").is_none());
        // No rotated refresh token in the answer: the old one stays.
        let v: Value =
            serde_json::from_slice(&refreshed(&a, r#"{"access_token":"n"}"#, "t").unwrap())
                .unwrap();
        assert_eq!(v["tokens"]["refresh_token"], "rt-1");
        assert_eq!(refreshed(&a, "{}", "t"), Err(ResponseError::NoAccessToken));
        assert_eq!(refreshed(&a, "[1]", "t"), Err(ResponseError::NotJson));
    }

    #[test]
    fn error_codes_in_every_shape_the_endpoint_uses() {
        let reused = r#"{"error":{"message":"already used","type":"invalid_request_error","code":"refresh_token_reused"}}"#;
        assert_eq!(error_code(reused).as_deref(), Some("refresh_token_reused"));
        assert_eq!(
            error_code(r#"{"error":"refresh_token_expired"}"#).as_deref(),
            Some("refresh_token_expired")
        );
        assert_eq!(error_code(r#"{"code":"x"}"#).as_deref(), Some("x"));
        assert_eq!(error_code("<html>"), None);
        assert!(is_permanent("REFRESH_TOKEN_REUSED"));
        assert!(!is_permanent("rate_limited"));
    }
}
