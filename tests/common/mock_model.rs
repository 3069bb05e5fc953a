//! A local stand-in for the model API (Codex's Responses wire protocol over Server-Sent Events),
//! so real Codex runs end to end with no internet (DESIGN §8).
//!
//! The first request is answered with one tool call running `command`; once Codex posts the tool's
//! output, with a final assistant message. Every request is recorded. Point Codex at it with a
//! `[model_providers.mock]` whose `base_url` is [`MockModel::base_url`] and `wire_api = "responses"`
//! ([`MockModel::provider_config`]). [`start_checking`] makes it a ChatGPT-login backend: it
//! answers 401 to a request whose bearer token the given check refuses, as the real one does to
//! an expired or revoked access token.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request Codex made: method, path and body.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status the mock answered.
    pub status: u16,
}

/// Whether the backend accepts a request's bearer token (the header value without `Bearer `).
pub type TokenCheck = Arc<dyn Fn(Option<&str>) -> bool + Send + Sync>;

/// The running mock; it serves until the process ends.
pub struct MockModel {
    pub port: u16,
    requests: Arc<Mutex<Vec<Request>>>,
}

/// The final message the mock sends after the tool output.
pub const FINAL_MESSAGE: &str = "mock: done";

/// Starts the mock on 127.0.0.1 (an ephemeral port); the model asks Codex to run `command`
/// (`sh -c` text) with its shell tool.
pub fn start(command: &str) -> MockModel {
    start_checking(command, Arc::new(|_: Option<&str>| true))
}

/// [`start`], answering 401 to model requests whose bearer token `check` refuses.
pub fn start_checking(command: &str, check: TokenCheck) -> MockModel {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock model API");
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let command = command.to_string();
    {
        let requests = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (requests, command, check) = (requests.clone(), command.clone(), check.clone());
                std::thread::spawn(move || serve(stream, &requests, &command, &check));
            }
        });
    }
    MockModel { port, requests }
}

impl MockModel {
    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1", self.port)
    }

    /// Config lines selecting this mock as Codex's model provider (no auth needed).
    pub fn provider_config(&self) -> String {
        format!(
            "model = \"gpt-5.5\"\nmodel_provider = \"mock\"\n\n[model_providers.mock]\nname = \"mock\"\nbase_url = \"{}\"\nwire_api = \"responses\"\nrequest_max_retries = 0\nstream_max_retries = 0\n",
            self.base_url()
        )
    }

    /// [`MockModel::provider_config`] for a ChatGPT login: Codex sends the login's access token.
    pub fn chatgpt_provider_config(&self) -> String {
        format!("{}requires_openai_auth = true\n", self.provider_config())
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

/// One HTTP/1.1 request read from `stream`: method, path, the `Authorization` header and the
/// body (per `Content-Length`); None when the peer sent nothing.
pub fn read_request(stream: &TcpStream) -> Option<(String, String, Option<String>, String)> {
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    let mut authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            } else if name.eq_ignore_ascii_case("authorization") {
                authorization = Some(value.trim().to_string());
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    Some((method, path, authorization, body))
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, command: &str, check: &TokenCheck) {
    let Some((method, path, authorization, body)) = read_request(&stream) else {
        return;
    };
    let is_model = method == "POST" && path.ends_with("/responses");
    let bearer = authorization
        .as_deref()
        .and_then(|a| a.strip_prefix("Bearer "));
    let status = match (is_model, check(bearer)) {
        (false, _) => 404,
        (true, false) => 401,
        (true, true) => 200,
    };
    requests.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
        authorization,
        status,
    });
    let mut out = stream;
    if status == 404 {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        return;
    }
    if status == 401 {
        let body = r#"{"error":{"message":"Your authentication token has expired.","type":"invalid_request_error","code":"token_expired"}}"#;
        let _ = out.write_all(
            format!("HTTP/1.1 401 Unauthorized\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len()).as_bytes(),
        );
        return;
    }
    let n = requests.lock().unwrap().len();
    let item = if body.contains("function_call_output") {
        serde_json::json!({
            "type": "message", "role": "assistant", "id": format!("msg_{n}"),
            "content": [{"type": "output_text", "text": FINAL_MESSAGE}]
        })
    } else {
        let args = serde_json::json!({"cmd": command});
        serde_json::json!({
            "type": "function_call", "id": format!("fc_{n}"), "call_id": format!("call_{n}"),
            "name": "exec_command", "arguments": args.to_string()
        })
    };
    let id = format!("resp_{n}");
    let events = [
        serde_json::json!({"type": "response.created", "response": {"id": id}}),
        serde_json::json!({"type": "response.output_item.done", "item": item}),
        serde_json::json!({"type": "response.completed", "response": {"id": id, "usage": {
            "input_tokens": 0, "input_tokens_details": null, "output_tokens": 0,
            "output_tokens_details": null, "total_tokens": 0}}}),
    ];
    let mut sse = String::new();
    for e in events {
        sse.push_str(&format!(
            "event: {}\ndata: {e}\n\n",
            e["type"].as_str().unwrap()
        ));
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        sse.len()
    );
    let _ = out.write_all(head.as_bytes());
    let _ = out.write_all(sse.as_bytes());
}
