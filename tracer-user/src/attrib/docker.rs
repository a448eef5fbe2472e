//! Container names from the Docker Engine API, spoken as plain HTTP/1.0 over
//! the daemon's unix socket so that no HTTP client crate is needed.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;

/// Short, because lookups happen on the event path and a hung daemon must not stall tracing.
const IO_TIMEOUT: Duration = Duration::from_secs(1);
/// Unknown ids (host processes that look like containers, other runtimes)
/// must not turn every event into a daemon round trip.
const REFRESH_INTERVAL: Duration = Duration::from_secs(1);
/// Bounds memory should the socket belong to something misbehaving.
const MAX_RESPONSE: u64 = 64 << 20;

#[derive(Deserialize)]
struct ApiContainer {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Option<Vec<String>>,
    #[serde(rename = "State", default)]
    state: Option<String>,
}

/// Cache of docker container ids and names, refreshed from the daemon on demand.
pub struct DockerNames {
    socket: PathBuf,
    /// Full id -> name without the leading '/'.
    names: HashMap<String, Option<String>>,
    last_refresh: Option<Instant>,
    answered: bool,
}

impl DockerNames {
    pub fn new(socket: PathBuf) -> Self {
        DockerNames {
            socket,
            names: HashMap::new(),
            last_refresh: None,
            answered: false,
        }
    }

    /// Name of the container with this full id; None when docker is
    /// unreachable or does not know the id.
    pub fn name_of(&mut self, id: &str) -> Option<String> {
        if !self.names.contains_key(id) && self.refresh_due() {
            self.refresh();
        }
        self.names.get(id).cloned().flatten()
    }

    /// Full id from a name (with or without the leading '/'), a full id, or
    /// an unambiguous id prefix of at least 4 hex characters.
    pub fn resolve(&mut self, id_or_name: &str) -> Option<String> {
        if let Some(id) = self.lookup(id_or_name) {
            return Some(id);
        }
        // Resolution is a one-off user request, so it may bypass the rate limit.
        self.refresh();
        self.lookup(id_or_name)
    }

    /// Whether the daemon answered the last query.
    pub fn available(&mut self) -> bool {
        if self.refresh_due() {
            self.refresh();
        }
        self.answered
    }

    fn refresh_due(&self) -> bool {
        self.last_refresh
            .is_none_or(|t| t.elapsed() >= REFRESH_INTERVAL)
    }

    fn refresh(&mut self) {
        self.last_refresh = Some(Instant::now());
        match list_containers(&self.socket) {
            Ok(list) => {
                let running = list
                    .iter()
                    .filter(|c| c.state.as_deref() == Some("running"))
                    .count();
                log::debug!("docker: {} containers, {running} running", list.len());
                // Replaced, not merged: `all=1` keeps stopped containers, so
                // only removed ones drop out and the map cannot grow without bound.
                self.names = list
                    .into_iter()
                    .map(|c| {
                        let name = primary_name(c.names.as_deref().unwrap_or_default());
                        (c.id.to_ascii_lowercase(), name)
                    })
                    .collect();
                self.answered = true;
            }
            Err(err) => {
                // Hosts without docker are normal; keep old names for display.
                log::debug!("docker: {}: {err:#}", self.socket.display());
                self.answered = false;
            }
        }
    }

    fn lookup(&self, query: &str) -> Option<String> {
        let query = query.strip_prefix('/').unwrap_or(query);
        if query.is_empty() {
            return None;
        }
        // Same precedence as the docker CLI: full id, then name, then id prefix.
        if self.names.contains_key(query) {
            return Some(query.to_string());
        }
        if let Some((id, _)) = self
            .names
            .iter()
            .find(|(_, name)| name.as_deref() == Some(query))
        {
            return Some(id.clone());
        }
        if query.len() >= 4 && query.bytes().all(|b| b.is_ascii_hexdigit()) {
            let prefix = query.to_ascii_lowercase();
            let mut hits = self.names.keys().filter(|id| id.starts_with(&prefix));
            if let (Some(id), None) = (hits.next(), hits.next()) {
                return Some(id.clone());
            }
        }
        None
    }
}

/// Docker lists legacy link aliases (`/web/db`) next to the real name; the
/// real one is the name with no further '/'.
fn primary_name(names: &[String]) -> Option<String> {
    let bare = |n: &String| n.strip_prefix('/').unwrap_or(n).to_string();
    names
        .iter()
        .find(|n| !n.trim_start_matches('/').contains('/'))
        .or(names.first())
        .map(bare)
}

fn list_containers(socket: &Path) -> anyhow::Result<Vec<ApiContainer>> {
    let raw = get(socket, "/containers/json?all=1")?;
    let body = parse_http_response(&raw)?;
    serde_json::from_slice(&body).context("decoding container list")
}

fn get(socket: &Path, path: &str) -> anyhow::Result<Vec<u8>> {
    let mut stream = UnixStream::connect(socket).context("connecting")?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    // HTTP/1.0 makes the daemon close the connection after the body, so EOF ends the response.
    let request = format!("GET {path} HTTP/1.0\r\nHost: docker\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .context("sending request")?;
    let mut raw = Vec::new();
    match stream.take(MAX_RESPONSE).read_to_end(&mut raw) {
        Ok(_) => {}
        // A server that holds the connection open may still have sent a
        // complete response; the parser checks completeness.
        Err(e)
            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
                && !raw.is_empty() => {}
        Err(e) => return Err(e).context("reading response"),
    }
    Ok(raw)
}

/// Splits a raw HTTP response, requires status 200 and returns the decoded body.
fn parse_http_response(raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let head_end = find(raw, b"\r\n\r\n").context("incomplete HTTP header")?;
    let head = std::str::from_utf8(&raw[..head_end]).context("non-UTF-8 HTTP header")?;
    let body = &raw[head_end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut status = status_line.split_whitespace();
    match (status.next(), status.next()) {
        (Some(version), Some("200")) if version.starts_with("HTTP/") => {}
        _ => bail!("unexpected HTTP status: {status_line:?}"),
    }
    let (mut chunked, mut length) = (false, None);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let (name, value) = (name.trim(), value.trim());
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        } else if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().context("bad Content-Length")?);
        }
    }
    // Chunked framing overrides Content-Length (RFC 9112, 6.3).
    if chunked {
        return decode_chunked(body);
    }
    match length {
        Some(n) if body.len() < n => bail!("truncated body: {} of {n} bytes", body.len()),
        Some(n) => Ok(body[..n].to_vec()),
        None => Ok(body.to_vec()),
    }
}

fn decode_chunked(mut rest: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(rest, b"\r\n").context("truncated chunk header")?;
        let line = std::str::from_utf8(&rest[..line_end]).context("bad chunk header")?;
        let size_hex = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16)
            .with_context(|| format!("bad chunk size {line:?}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, if any, carry nothing we need.
            return Ok(out);
        }
        let Some((data, tail)) = rest.split_at_checked(size) else {
            bail!("truncated chunk");
        };
        let Some(tail) = tail.strip_prefix(b"\r\n") else {
            bail!("chunk not followed by CRLF");
        };
        out.extend_from_slice(data);
        rest = tail;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::BufRead;
    use std::os::unix::net::UnixListener;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    pub(crate) const WEB: &str = "5b1e0c3a9f7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";
    pub(crate) const DB: &str = "5b1e77aa9f7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";

    pub(crate) fn sample_json() -> String {
        format!(
            r#"[{{"Id":"{WEB}","Names":["/web"],"State":"running","Image":"nginx"}},
               {{"Id":"{DB}","Names":["/web/db","/db"],"State":"exited"}}]"#
        )
    }

    /// Serves `body` as a container list on a fresh socket; returns its path
    /// and a counter of requests answered.
    pub(crate) fn fake_daemon(tag: &str, body: String) -> (PathBuf, Arc<AtomicUsize>) {
        let path = std::env::temp_dir().join(format!("ctrace-{tag}-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(&stream);
                let mut request_line = String::new();
                reader.read_line(&mut request_line).unwrap();
                assert!(request_line.starts_with("GET /containers/json?all=1 HTTP/1.0"));
                // Drain headers up to the blank line.
                let mut line = String::new();
                while reader.read_line(&mut line).unwrap() > 2 {
                    line.clear();
                }
                counter.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        (path, hits)
    }

    #[test]
    fn content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: Docker\r\n\r\n[]extra";
        assert_eq!(parse_http_response(raw).unwrap(), b"[]");
    }

    #[test]
    fn body_until_eof_without_length() {
        let raw = b"HTTP/1.0 200 OK\r\n\r\n[{\"Id\":\"x\"}]\n";
        assert_eq!(parse_http_response(raw).unwrap(), b"[{\"Id\":\"x\"}]\n");
    }

    #[test]
    fn chunked_body() {
        let raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\nContent-Length: 99\r\n\r\n\
                    4\r\n[{\"I\r\nA;ext=1\r\nd\":\"abc\"}]\r\n0\r\nX-Trailer: 1\r\n\r\n";
        assert_eq!(parse_http_response(raw).unwrap(), b"[{\"Id\":\"abc\"}]");
    }

    #[test]
    fn bad_responses() {
        for raw in [
            &b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}"[..],
            b"HTTP/1.1 500 Internal Server Error\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n[]",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n[]",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2",
            b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
            b"",
        ] {
            assert!(
                parse_http_response(raw).is_err(),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn missing_socket_degrades_to_none() {
        let mut docker = DockerNames::new(PathBuf::from("/nonexistent/ctrace/docker.sock"));
        assert_eq!(docker.name_of(WEB), None);
        assert_eq!(docker.resolve("web"), None);
        assert!(!docker.available());
    }

    #[test]
    fn names_from_fake_daemon() {
        let (path, hits) = fake_daemon("names", sample_json());
        let mut docker = DockerNames::new(path.clone());
        assert!(docker.available());
        assert_eq!(docker.name_of(WEB).as_deref(), Some("web"));
        assert_eq!(docker.name_of(DB).as_deref(), Some("db"));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // Unknown ids do not hammer the daemon.
        assert_eq!(docker.name_of(&"0".repeat(64)), None);
        assert_eq!(docker.name_of(&"1".repeat(64)), None);
        assert_eq!(hits.load(Ordering::SeqCst), 1);

        assert_eq!(docker.resolve("web").as_deref(), Some(WEB));
        assert_eq!(docker.resolve("/db").as_deref(), Some(DB));
        assert_eq!(docker.resolve(WEB).as_deref(), Some(WEB));
        assert_eq!(docker.resolve("5b1e0c").as_deref(), Some(WEB));
        assert_eq!(docker.resolve("5B1E77").as_deref(), Some(DB));
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        // Ambiguous or too short prefixes, and unknown names, refresh once and fail.
        assert_eq!(docker.resolve("5b1e"), None);
        assert_eq!(docker.resolve("5b1"), None);
        assert_eq!(docker.resolve("nope"), None);
        assert_eq!(hits.load(Ordering::SeqCst), 4);
        let _ = std::fs::remove_file(path);
    }

    #[test]
    fn primary_name_skips_link_aliases() {
        let names = ["/web/db".to_string(), "/db".to_string()];
        assert_eq!(primary_name(&names).as_deref(), Some("db"));
        assert_eq!(primary_name(&[]), None);
    }
}
