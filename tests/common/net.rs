//! Host-side listeners for the network-policy scenarios (issue 16): a TCP server on 127.0.0.1
//! and ::1, a UDP socket, a pathname unix socket and an abstract one. Each records what reached
//! it, so a test asserts from the host, not from what the sandboxed command claims.

use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What the body of every HTTP answer from the host says.
pub const HELLO: &str = "hello-from-host";

pub struct HostServers {
    pub tcp4: u16,
    pub tcp6: Option<u16>,
    pub udp4: u16,
    pub unix_path: PathBuf,
    pub abstract_name: String,
    hits: Arc<Mutex<Vec<String>>>,
}

impl HostServers {
    /// Starts every listener; the unix socket goes in `dir` (mode 0777, so any uid could use it
    /// if nothing stopped it).
    pub fn start(dir: &Path) -> HostServers {
        let hits = Arc::new(Mutex::new(Vec::new()));
        let tcp4 = serve_http(TcpListener::bind("127.0.0.1:0").unwrap(), "tcp4", &hits);
        let tcp6 = TcpListener::bind("[::1]:0")
            .ok()
            .map(|l| serve_http(l, "tcp6", &hits));
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let udp4 = udp.local_addr().unwrap().port();
        let h = Arc::clone(&hits);
        thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, _)) = udp.recv_from(&mut buf) {
                h.lock()
                    .unwrap()
                    .push(format!("udp4 {}", String::from_utf8_lossy(&buf[..n])));
            }
        });
        let unix_path = dir.join("host.sock");
        let _ = std::fs::remove_file(&unix_path);
        let unix = UnixListener::bind(&unix_path).unwrap();
        std::fs::set_permissions(&unix_path, std::fs::Permissions::from_mode(0o777)).unwrap();
        serve_unix(unix, "unix", &hits);
        let abstract_name = format!("cl-net-test-{}-{}", std::process::id(), tcp4);
        let addr = UnixAddr::from_abstract_name(abstract_name.as_bytes()).unwrap();
        serve_unix(UnixListener::bind_addr(&addr).unwrap(), "abstract", &hits);
        HostServers {
            tcp4,
            tcp6,
            udp4,
            unix_path,
            abstract_name,
            hits,
        }
    }

    /// Everything that reached a listener so far (`tcp4 GET /x HTTP/1.1`, `udp4 ...`, `unix`).
    pub fn hits(&self) -> Vec<String> {
        // Let in-flight connections land before reading.
        thread::sleep(Duration::from_millis(200));
        self.hits.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.hits.lock().unwrap().clear();
    }
}

fn serve_http(listener: TcpListener, label: &'static str, hits: &Arc<Mutex<Vec<String>>>) -> u16 {
    let port = listener.local_addr().unwrap().port();
    let hits = Arc::clone(hits);
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let hits = Arc::clone(&hits);
            thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let first = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_string();
                hits.lock().unwrap().push(format!("{label} {first}"));
                let body = format!("{HELLO}\n");
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            });
        }
    });
    port
}

fn serve_unix(listener: UnixListener, label: &'static str, hits: &Arc<Mutex<Vec<String>>>) {
    let hits = Arc::clone(hits);
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            hits.lock().unwrap().push(label.to_string());
            let _ = conn.write_all(format!("{HELLO}\n").as_bytes());
        }
    });
}

/// A Python script that tries each way out directly and prints one `name ok|fail:...` line per
/// attempt; the host's records are what the tests believe.
pub fn direct_attempts(s: &HostServers) -> String {
    let tcp6 = s.tcp6.map_or(String::new(), |p| {
        format!("attempt('tcp6', lambda: socket.create_connection(('::1', {p}), timeout=3).sendall(b'GET /direct6 HTTP/1.1\\r\\n\\r\\n'))\n")
    });
    format!(
        r#"python3 - <<'EOF'
import socket
def attempt(name, f):
    try:
        f()
        print(name, 'ok', flush=True)
    except Exception as e:
        print(name, 'fail:' + repr(e), flush=True)
def udp():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b'direct-udp', ('127.0.0.1', {udp}))
def mptcp(port):
    m = socket.socket(socket.AF_INET, socket.SOCK_STREAM, 262)
    m.settimeout(3)
    m.connect(('127.0.0.1', port))
    m.sendall(b'GET /mptcp4 HTTP/1.1\r\n\r\n')
def fast_open(how, port):
    # TCP Fast Open: the send itself connects, past any connect() check.
    import ctypes, os, struct, time
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    to = ('127.0.0.1', port)
    data = b'GET /tfo-' + how.encode() + b' HTTP/1.1\r\n\r\n'
    if how == 'sendto':
        s.sendto(data, socket.MSG_FASTOPEN, to)
    elif how == 'sendmsg':
        s.sendmsg([data], [], socket.MSG_FASTOPEN, to)
    elif os.uname().machine == 'x86_64':
        class iovec(ctypes.Structure):
            _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]
        class msghdr(ctypes.Structure):
            _fields_ = [('name', ctypes.c_void_p), ('namelen', ctypes.c_uint32),
                        ('iov', ctypes.POINTER(iovec)), ('iovlen', ctypes.c_size_t),
                        ('control', ctypes.c_void_p), ('controllen', ctypes.c_size_t),
                        ('flags', ctypes.c_int)]
        class mmsghdr(ctypes.Structure):
            _fields_ = [('hdr', msghdr), ('len', ctypes.c_uint)]
        libc = ctypes.CDLL(None, use_errno=True)
        buf = ctypes.create_string_buffer(data, len(data))
        addr = ctypes.create_string_buffer(
            struct.pack('=H', socket.AF_INET) + struct.pack('!H', port)
            + socket.inet_aton('127.0.0.1') + bytes(8), 16)
        iov = iovec(ctypes.cast(buf, ctypes.c_void_p), len(data))
        m = mmsghdr(msghdr(ctypes.cast(addr, ctypes.c_void_p), 16, ctypes.pointer(iov), 1,
                           None, 0, 0), 0)
        # sendmmsg(fd, msgvec, vlen, flags) is syscall 307 on x86-64.
        if libc.syscall(307, s.fileno(), ctypes.byref(m), 1, socket.MSG_FASTOPEN) < 0:
            raise OSError(ctypes.get_errno(), 'sendmmsg')
    time.sleep(0.3)
    s.close()
def unix(addr):
    u = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    u.settimeout(3)
    u.connect(addr)
    u.recv(64)
attempt('tcp4', lambda: socket.create_connection(('127.0.0.1', {tcp4}), timeout=3).sendall(b'GET /direct4 HTTP/1.1\r\n\r\n'))
{tcp6}attempt('mptcp4', lambda: mptcp({tcp4}))
attempt('udp4', udp)
for how in ('sendto', 'sendmsg', 'sendmmsg'):
    attempt('tfo-' + how, lambda: fast_open(how, {tcp4}))
attempt('metadata', lambda: socket.create_connection(('169.254.169.254', 80), timeout=3))
attempt('unix', lambda: unix({path:?}))
attempt('abstract', lambda: unix('\0{name}'))
EOF
"#,
        udp = s.udp4,
        tcp4 = s.tcp4,
        path = s.unix_path.display().to_string(),
        name = s.abstract_name,
    )
}
