//! Container names from the Docker Engine API on its unix socket. Optional: when the socket is
//! missing or does not answer, containers are shown by id only.

use std::{
    collections::HashMap,
    io::{Read as _, Write as _},
    os::unix::net::UnixStream,
    path::PathBuf,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

const TIMEOUT: Duration = Duration::from_secs(1);
const MIN_REFRESH: Duration = Duration::from_secs(1);

#[derive(Deserialize)]
struct Summary {
    #[serde(rename = "Id")]
    id: String,
    #[serde(rename = "Names", default)]
    names: Vec<String>,
}

/// id → name, refreshed from the API when an unknown id shows up (at most once a second).
pub struct DockerNames {
    socket: PathBuf,
    names: HashMap<String, String>,
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

    fn refresh(&mut self, force: bool) {
        if !force && self.last_refresh.is_some_and(|t| t.elapsed() < MIN_REFRESH) {
            return;
        }
        self.last_refresh = Some(Instant::now());
        match self.list() {
            Ok(list) => {
                self.answered = true;
                self.names = list
                    .into_iter()
                    .filter_map(|s| {
                        Some((s.id, s.names.first()?.trim_start_matches('/').to_string()))
                    })
                    .collect();
            }
            Err(e) => {
                self.answered = false;
                log::debug!("docker API at {}: {e:#}", self.socket.display());
            }
        }
    }

    fn list(&self) -> Result<Vec<Summary>> {
        let mut s = UnixStream::connect(&self.socket).context("connect")?;
        s.set_read_timeout(Some(TIMEOUT))?;
        s.set_write_timeout(Some(TIMEOUT))?;
        s.write_all(b"GET /containers/json?all=1 HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw)?;
        let body = http_body(&raw)?;
        Ok(serde_json::from_slice(&body)?)
    }

    pub fn available(&mut self) -> bool {
        self.refresh(true);
        self.answered
    }

    pub fn name_of(&mut self, id: &str) -> Option<String> {
        if !self.names.contains_key(id) {
            self.refresh(false);
        }
        self.names.get(id).cloned()
    }

    /// Full id from a name (with or without the leading '/') or an id prefix of 4+ characters.
    pub fn resolve(&mut self, id_or_name: &str) -> Option<String> {
        let want = id_or_name.trim_start_matches('/');
        for attempt in 0..2 {
            if attempt == 1 || self.names.is_empty() {
                self.refresh(true);
            }
            if let Some((id, _)) = self.names.iter().find(|(_, n)| n.as_str() == want) {
                return Some(id.clone());
            }
            if want.len() >= 4 {
                let hits: Vec<&String> = self
                    .names
                    .keys()
                    .filter(|id| id.starts_with(want))
                    .collect();
                if hits.len() == 1 {
                    return Some(hits[0].clone());
                }
            }
        }
        None
    }
}

/// The body of an HTTP/1.x response: status 200 required, chunked encoding undone.
pub fn http_body(raw: &[u8]) -> Result<Vec<u8>> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("no end of headers")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let body = &raw[split + 4..];
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        bail!("unexpected status: {status}");
    }
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    if !chunked {
        return Ok(body.to_vec());
    }
    let mut out = Vec::new();
    let mut rest = body;
    loop {
        let eol = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .context("bad chunk size line")?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .context("bad chunk size")?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size {
            bail!("truncated chunk");
        }
        out.extend_from_slice(&rest[..size]);
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_body() {
        let raw = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n[]";
        assert_eq!(http_body(raw).unwrap(), b"[]");
    }

    #[test]
    fn chunked_body() {
        let raw =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[{}\r\n1\r\n]\r\n0\r\n\r\n";
        assert_eq!(http_body(raw).unwrap(), b"[{}]");
    }

    #[test]
    fn non_200_is_an_error() {
        let raw = b"HTTP/1.0 404 Not Found\r\n\r\n{}";
        assert!(http_body(raw).is_err());
    }

    #[test]
    fn parses_container_list() {
        let body = br#"[{"Id":"abc","Names":["/web"],"State":"running"}]"#;
        let list: Vec<Summary> = serde_json::from_slice(body).unwrap();
        assert_eq!(
            (list[0].id.as_str(), list[0].names[0].as_str()),
            ("abc", "/web")
        );
    }

    #[test]
    fn missing_socket_is_not_an_error() {
        let mut d = DockerNames::new("/nonexistent/docker.sock".into());
        assert!(!d.available());
        assert_eq!(d.name_of("abc"), None);
        assert_eq!(d.resolve("web"), None);
    }
}
