//! A local stand-in for the model API (Codex's Responses wire protocol over Server-Sent Events),
//! so real Codex runs end to end with no internet (DESIGN §8).
//!
//! The first request is answered with one tool call running `command`; once Codex posts the tool's
//! output, with a final assistant message. Every request is recorded. Point Codex at it with a
//! `[model_providers.mock]` whose `base_url` is [`MockModel::base_url`] and `wire_api = "responses"`
//! ([`MockModel::provider_config`]).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One request Codex made: method, path and body.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub body: String,
}

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
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the mock model API");
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let command = command.to_string();
    {
        let requests = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (requests, command) = (requests.clone(), command.clone());
                std::thread::spawn(move || serve(stream, &requests, &command));
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

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, requests: &Mutex<Vec<Request>>, command: &str) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    let body = String::from_utf8_lossy(&body).into_owned();
    requests.lock().unwrap().push(Request {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
    });
    let mut out = stream;
    if method != "POST" || !path.ends_with("/responses") {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
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
