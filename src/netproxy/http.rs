//! The HTTP/1 proxy protocol: reading a bounded request head, telling `CONNECT host:port` from an
//! absolute-form `GET http://host/path`, rewriting the latter to origin-form, and the responses
//! the proxy itself sends. No bodies are parsed: after the head, bytes are spliced to the one
//! vetted upstream, so whatever a client pipelines can only reach the host that was allowed.

use std::io::{self, ErrorKind, Read};
use std::time::{Duration, Instant};

use super::conn::Conn;
use super::decision::{Refusal, Target};
use super::host::{parse_authority, parse_authority_or, HostError};

/// The response header naming why the proxy refused; stable words from `Refusal::code`.
pub const REFUSAL_HEADER: &str = "X-Codex-Launcher-Refusal";

/// Why a request head could not be read or understood.
#[derive(Debug, thiserror::Error)]
pub enum HeadError {
    #[error("the client closed the connection before a request")]
    Closed,
    #[error("no complete request head within {0:?}")]
    Timeout(Duration),
    #[error("request head larger than {0} bytes")]
    TooLarge(usize),
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    #[error("{0}")]
    Host(#[from] HostError),
    #[error("read failed: {0}")]
    Io(io::Error),
}

/// A request head, split but not yet interpreted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub method: String,
    pub target: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
}

/// What the client asked the proxy to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Open a tunnel to the target.
    Connect(Target),
    /// Forward one plain-HTTP request; `head` is the rewritten origin-form head to send upstream.
    Forward { target: Target, head: Vec<u8> },
}

/// Reads up to the blank line ending the head, within `max` bytes and by `timeout` in total (a
/// client trickling one byte at a time does not get a longer clock). Returns the head and any
/// bytes read past it, which belong to the upstream (early TLS data, a request body).
pub fn read_head(
    conn: &mut Conn,
    max: usize,
    timeout: Duration,
) -> Result<(Head, Vec<u8>), HeadError> {
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HeadError::Timeout(timeout));
        }
        conn.set_read_timeout(Some(left)).map_err(HeadError::Io)?;
        let n = match conn.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(HeadError::Closed),
            Ok(0) => {
                return Err(HeadError::Malformed(
                    "connection closed inside the request head",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(HeadError::Timeout(timeout))
            }
            Err(e) => return Err(HeadError::Io(e)),
        };
        // Search only the new bytes (and the three before them) for the terminator.
        let from = buf.len().saturating_sub(3);
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf[from..], b"\r\n\r\n").map(|i| from + i + 4) {
            if end > max {
                return Err(HeadError::TooLarge(max));
            }
            let rest = buf.split_off(end);
            return Ok((parse_head(&buf)?, rest));
        }
        if buf.len() > max {
            return Err(HeadError::TooLarge(max));
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits a head (ending in CRLF CRLF) into request line and headers, refusing anything a
/// lenient parser downstream might read differently: bare LF, obsolete line folding, control
/// characters, non-tchar names.
pub fn parse_head(bytes: &[u8]) -> Result<Head, HeadError> {
    let text = std::str::from_utf8(bytes).map_err(|_| HeadError::Malformed("head is not UTF-8"))?;
    let text = text
        .strip_suffix("\r\n\r\n")
        .ok_or(HeadError::Malformed("head does not end with a blank line"))?;
    if text
        .bytes()
        .any(|b| (b < 0x20 && b != b'\r' && b != b'\n' && b != b'\t') || b == 0x7f)
    {
        return Err(HeadError::Malformed("control character in head"));
    }
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(HeadError::Malformed(
            "request line is not METHOD TARGET VERSION",
        ));
    };
    if !is_token(method) || target.is_empty() {
        return Err(HeadError::Malformed("bad method or target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(HeadError::Malformed(
            "only HTTP/1.0 and HTTP/1.1 are proxied",
        ));
    }
    let mut headers = Vec::new();
    for line in lines {
        if line.contains('\n') || line.contains('\r') {
            return Err(HeadError::Malformed("bare CR or LF in head"));
        }
        if line.starts_with([' ', '\t']) {
            return Err(HeadError::Malformed("obsolete header line folding"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or(HeadError::Malformed("header line without a colon"))?;
        if !is_token(name) {
            return Err(HeadError::Malformed("bad header name"));
        }
        headers.push((
            name.to_string(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Head {
        method: method.to_string(),
        target: target.to_string(),
        version: version.to_string(),
        headers,
    })
}

/// RFC 9110 token characters.
fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Headers that describe the client↔proxy hop and must not reach the origin (RFC 9110 §7.6.1),
/// plus `Proxy-Authorization`, which would hand the origin our client's proxy credentials.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "upgrade",
    "host",
];

/// Interprets a head as a proxy request.
pub fn interpret(head: &Head) -> Result<Request, HeadError> {
    if head.method.eq_ignore_ascii_case("CONNECT") {
        let (host, port) = parse_authority(&head.target)?;
        return Ok(Request::Connect(Target { host, port }));
    }
    let rest = strip_prefix_ignore_case(&head.target, "http://").ok_or(HeadError::Malformed(
        "a proxy request needs an absolute http:// URL (use CONNECT for https)",
    ))?;
    let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    if authority.contains('@') {
        // `http://allowed.test@evil.test/` means different hosts to different parsers.
        return Err(HeadError::Malformed("credentials in the request URL"));
    }
    let (host, port) = parse_authority_or(authority, 80)?;
    let target = Target { host, port };
    let path = path.split('#').next().unwrap_or_default();
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    let mut has_length = false;
    let mut has_chunked = false;
    for (name, _) in &head.headers {
        has_length |= name.eq_ignore_ascii_case("content-length");
        has_chunked |= name.eq_ignore_ascii_case("transfer-encoding");
    }
    if has_length && has_chunked {
        return Err(HeadError::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    let named_by_connection: Vec<String> = head
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, v)| v.split(',').map(|t| t.trim().to_ascii_lowercase()))
        .collect();
    let host_header = match port {
        80 => target.host.to_string(),
        _ => target.to_string(),
    };
    let mut out = format!(
        "{} {} {}\r\nHost: {}\r\n",
        head.method, path, head.version, host_header
    );
    for (name, value) in &head.headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str()) || named_by_connection.contains(&lower) {
            continue;
        }
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    // One request per upstream connection: a later request on this client connection could name
    // another host, and only the first was checked.
    out.push_str("Connection: close\r\n\r\n");
    Ok(Request::Forward {
        target,
        head: out.into_bytes(),
    })
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The 403 (or 502 when a name did not resolve) for a refusal. The status phrase repeats the
/// gist, since some clients print only the status line of a failed CONNECT.
pub fn refusal_response(refusal: &Refusal) -> Vec<u8> {
    let (status, word) = match refusal.is_policy() {
        true => (403, "Forbidden"),
        false => (502, "Bad Gateway"),
    };
    let mut phrase = format!(
        "{word} by codex-launcher: {} {}",
        printable(&refusal.target),
        refusal.code()
    );
    if let Some(flag) = refusal.allow_with() {
        phrase.push_str(&format!(", allow with {flag}"));
    }
    response(status, &phrase, refusal.code(), &refusal.message())
}

/// A response from the proxy itself with a one-line text body.
pub fn response(status: u16, phrase: &str, code: &str, message: &str) -> Vec<u8> {
    let body = format!("{}\n", printable(message));
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: text/plain; charset=utf-8\r\n{REFUSAL_HEADER}: {code}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        printable(phrase),
        body.len()
    )
    .into_bytes()
}

/// Keeps client-supplied text from breaking a header line or a log line.
pub fn printable(s: &str) -> String {
    s.chars()
        .take(300)
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::netproxy::decision::RefusalReason;
    use crate::netproxy::host::Host;

    fn head(text: &str) -> Head {
        parse_head(text.as_bytes()).unwrap()
    }

    #[test]
    fn connect_names_its_target() {
        let h = head("CONNECT Example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n");
        assert_eq!(
            interpret(&h).unwrap(),
            Request::Connect(Target {
                host: Host::Name("example.com".into()),
                port: 443
            })
        );
        let h = head("CONNECT example.com HTTP/1.1\r\n\r\n");
        assert!(interpret(&h).is_err());
    }

    #[test]
    fn absolute_form_is_rewritten_to_origin_form() {
        let h = head(
            "GET HTTP://2130706433:8080/a/b?q=1#frag HTTP/1.1\r\nHost: evil.test\r\nProxy-Connection: keep-alive\r\n\
             Proxy-Authorization: Basic eA==\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nAccept: */*\r\n\r\n",
        );
        let Request::Forward {
            target,
            head: rewritten,
        } = interpret(&h).unwrap()
        else {
            panic!()
        };
        assert_eq!(target.to_string(), "127.0.0.1:8080");
        assert_eq!(
            String::from_utf8(rewritten).unwrap(),
            "GET /a/b?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );
        let h = head("GET http://example.com?x HTTP/1.0\r\n\r\n");
        let Request::Forward {
            head: rewritten, ..
        } = interpret(&h).unwrap()
        else {
            panic!()
        };
        assert!(String::from_utf8(rewritten)
            .unwrap()
            .starts_with("GET /?x HTTP/1.0\r\nHost: example.com\r\n"));
    }

    #[test]
    fn ambiguous_or_foreign_requests_are_refused() {
        for text in [
            "GET /origin-form HTTP/1.1\r\nHost: example.com\r\n\r\n",
            "GET https://example.com/ HTTP/1.1\r\n\r\n",
            "GET http://allowed.test@evil.test/ HTTP/1.1\r\n\r\n",
            "POST http://example.com/ HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert!(interpret(&head(text)).is_err(), "{text:?}");
        }
        for text in [
            "PRI * HTTP/2.0\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\nHost: a\r\n\r\n",
            "GET  http://a.test/ HTTP/1.1\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\nBad Name: x\r\n\r\n",
            "GET http://a.test/ HTTP/1.1\r\nX: \0\r\n\r\n",
        ] {
            assert!(parse_head(text.as_bytes()).is_err(), "{text:?}");
        }
    }

    #[test]
    fn refusals_are_403_with_header_body_and_phrase() {
        let refusal = Refusal::new(
            "example.com:443",
            RefusalReason::NotAllowed {
                host: Host::Name("example.com".into()),
            },
        );
        let text = String::from_utf8(refusal_response(&refusal)).unwrap();
        assert!(text.starts_with(
            "HTTP/1.1 403 Forbidden by codex-launcher: example.com:443 not-allowed, allow with --allow-domain example.com\r\n"
        ));
        assert!(text.contains("\r\nX-Codex-Launcher-Refusal: not-allowed\r\n"));
        assert!(text.ends_with("run the launcher with --allow-domain example.com.\n"));
    }
}
