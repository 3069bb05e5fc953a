//! One client connection: read the request head, decide, dial, answer, then splice.

use std::io::Write;
use std::net::Shutdown;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::conn::Conn;
use super::decision::{Allowance, Refusal, RefusalReason};
use super::dial::{dial, DialError};
use super::http::{interpret, read_head, refusal_response, response, HeadError, Request};
use super::log::EventLog;
use super::policy::NetPolicy;
use super::resolve::Resolver;
use super::server::Limits;
use super::splice::splice;

/// Everything a connection needs, shared read-only by all of them.
pub(crate) struct Context {
    pub policy: NetPolicy,
    pub resolver: Arc<dyn Resolver>,
    pub log: Option<EventLog>,
    pub log_allowed: bool,
    pub limits: Limits,
    /// Set by `ProxyHandle::shutdown`; tunnels notice within a splice tick.
    pub stopping: Arc<AtomicBool>,
}

impl Context {
    fn log(&self, fields: &str) {
        if let Some(log) = &self.log {
            log.line(fields);
        }
    }
}

/// Serves one client until its tunnel or request is done. Never panics on client input.
pub(crate) fn serve(mut client: Conn, ctx: &Context) {
    let peer = client.peer();
    let limits = &ctx.limits;
    // Our own short answers must not block on a client that does not read.
    let _ = client.set_write_timeout(Some(limits.head_timeout));
    let (head, early) = match read_head(&mut client, limits.max_head_bytes, limits.head_timeout) {
        Ok(read) => read,
        Err(HeadError::Closed) | Err(HeadError::Io(_)) => return,
        Err(e) => {
            let (status, phrase, code) = match e {
                HeadError::Timeout(_) => (408, "Request Timeout", "head-timeout"),
                HeadError::TooLarge(_) => {
                    (431, "Request Header Fields Too Large", "head-too-large")
                }
                _ => (400, "Bad Request", "bad-request"),
            };
            ctx.log(&format!("error {code} client={peer}: {e}"));
            answer(&mut client, &response(status, phrase, code, &e.to_string()));
            return;
        }
    };
    let request = match interpret(&head) {
        Ok(request) => request,
        Err(HeadError::Host(_)) => {
            let refusal = Refusal::new(&head.target, RefusalReason::InvalidHost);
            refuse(&mut client, ctx, &head.method, &refusal, &peer);
            return;
        }
        Err(e) => {
            ctx.log(&format!(
                "error bad-request {} client={peer}: {e}",
                head.method
            ));
            answer(
                &mut client,
                &response(400, "Bad Request", "bad-request", &e.to_string()),
            );
            return;
        }
    };
    let (target, upstream_head) = match request {
        Request::Connect(target) => (target, None),
        Request::Forward { target, head } => (target, Some(head)),
    };
    let dialed = match dial(&ctx.policy, &*ctx.resolver, &target, limits.connect_timeout) {
        Ok(dialed) => dialed,
        Err(DialError::Refused(refusal)) => {
            refuse(&mut client, ctx, &head.method, &refusal, &peer);
            return;
        }
        Err(DialError::Connect(e)) => {
            let message = format!("codex-launcher proxy could not connect to {target}: {e}");
            ctx.log(&format!(
                "error connect-failed {} {target} client={peer}: {e}",
                head.method
            ));
            answer(
                &mut client,
                &response(502, "Bad Gateway", "connect-failed", &message),
            );
            return;
        }
    };
    if ctx.log_allowed {
        let by = match &dialed.allowance {
            Allowance::Rule(rule) => format!("rule {rule}"),
            Allowance::Endpoint => "endpoint".to_string(),
        };
        ctx.log(&format!(
            "allowed {} {target} via {} by {by} client={peer}",
            head.method, dialed.addr
        ));
    }
    let mut upstream = Conn::Tcp(dialed.stream);
    let _ = upstream.set_write_timeout(Some(limits.idle_timeout));
    let opened = match &upstream_head {
        None => client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        Some(head) => upstream.write_all(head),
    };
    if opened.and_then(|()| upstream.write_all(&early)).is_err() {
        let _ = upstream.shutdown(Shutdown::Both);
        return;
    }
    let _ = splice(client, upstream, limits.idle_timeout, &ctx.stopping);
}

fn refuse(client: &mut Conn, ctx: &Context, method: &str, refusal: &Refusal, peer: &str) {
    ctx.log(&format!(
        "refused {method} {} {} client={peer}: {}",
        refusal.target,
        refusal.code(),
        refusal.message()
    ));
    answer(client, &refusal_response(refusal));
}

/// Sends a complete response and closes; a client gone already is not an error.
fn answer(client: &mut Conn, bytes: &[u8]) {
    let _ = client.write_all(bytes);
    let _ = client.shutdown(Shutdown::Write);
    // Drain briefly so the close does not turn into a reset that eats our response when the
    // client still had unread request bytes in flight.
    let _ = client.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    let mut sink = [0u8; 4096];
    for _ in 0..16 {
        match std::io::Read::read(client, &mut sink) {
            Ok(n) if n > 0 => continue,
            _ => break,
        }
    }
}
