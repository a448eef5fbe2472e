//! Container names from the Docker Engine API. A thread of its own (`docker_events.rs`) follows
//! Docker's event stream and fills a cache; the tracing loop only reads that cache, so a slow or
//! dead daemon never stalls the drain path.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

pub use super::docker_names::Link;
use super::{
    docker_events::{self, Request},
    docker_names::{LIMIT, Shared},
};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// `--container NAME` at startup waits this long for the first container list.
const FIRST_SYNC: Duration = Duration::from_secs(3);

/// The socket ctrace asks: `DOCKER_HOST` when it names a unix socket, as the docker CLI does.
pub fn socket() -> PathBuf {
    socket_from(std::env::var("DOCKER_HOST").ok().as_deref())
}

fn socket_from(docker_host: Option<&str>) -> PathBuf {
    match docker_host.and_then(|h| h.strip_prefix("unix://")) {
        Some(path) if !path.is_empty() => PathBuf::from(path),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

/// Whether ctrace can read names from the daemon at `socket`: its version, or why not.
pub fn probe(socket: &Path) -> Result<String, String> {
    docker_events::probe(socket)
}

/// Docker container names for the tracing loop: reads of a cache, never a daemon round trip.
pub struct DockerNames {
    shared: Arc<Shared>,
    /// To the event thread; dropping it ends the thread (None: a cache filled by tests).
    requests: Option<UnboundedSender<Request>>,
    /// Ids already asked about: each unknown id costs one inspect, not one per event.
    asked: HashSet<String>,
}

impl DockerNames {
    /// Starts following the daemon at once: by the time the probes are loaded the containers
    /// that exist are listed, and later ones are named as Docker creates them.
    pub fn new(socket: PathBuf) -> Self {
        let shared = Arc::<Shared>::default();
        DockerNames {
            requests: Some(docker_events::spawn(socket, shared.clone())),
            shared,
            asked: HashSet::new(),
        }
    }

    fn ask(&self, request: Request) -> bool {
        self.requests
            .as_ref()
            .is_some_and(|r| r.send(request).is_ok())
    }

    /// Name of the container with this full id, from the cache. An id the stream has not
    /// named yet is inspected once in the background; a later call sees the answer.
    pub fn name_of(&mut self, id: &str) -> Option<String> {
        let (known, up) = {
            let names = self.shared.names();
            let known = names.name(id);
            (known, names.link == Link::Up)
        };
        if let Some(name) = known {
            return name;
        }
        // While the link is down the next list covers every container; asking would be lost.
        if up && self.asked.len() < LIMIT && self.asked.insert(id.to_string()) {
            self.ask(Request::Inspect(id.to_string()));
        }
        None
    }

    /// Waits (up to 3 s) for the first container list: for one-off commands such as `doctor`,
    /// which name containers right after starting and have no later chance.
    pub fn settle(&self) {
        self.shared.wait_for(FIRST_SYNC, |n| {
            n.syncs > 0 || matches!(n.link, Link::Down(_))
        });
    }

    /// Full id from a name (with or without the leading '/'), a full id, or an unambiguous id
    /// prefix of at least 4 hex characters. A one-off request at startup: it may wait briefly.
    pub fn resolve(&mut self, id_or_name: &str) -> Option<String> {
        self.settle();
        let syncs = {
            let names = self.shared.names();
            if let Some(id) = names.lookup(id_or_name) {
                return Some(id);
            }
            if names.link != Link::Up {
                return None;
            }
            names.syncs
        };
        // Created a moment ago: list again rather than trust the stream to be this quick.
        if !self.ask(Request::Relist) {
            return None;
        }
        self.shared.wait_for(FIRST_SYNC, |n| {
            n.syncs > syncs || matches!(n.link, Link::Down(_))
        });
        self.shared.names().lookup(id_or_name)
    }

    /// The state of the event stream.
    #[cfg(test)]
    pub fn link(&self) -> Link {
        self.shared.names().link.clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const WEB: &str = "5b1e0c3a9f7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";
    pub(crate) const DB: &str = "5b1e77aa9f7d2468ace013579bdf02468ace13579bdf02468ace13579bdf0246";

    /// Names as a container list from the daemon would leave them.
    pub(crate) fn listed() -> DockerNames {
        let docker = DockerNames {
            shared: Arc::default(),
            requests: None,
            asked: HashSet::new(),
        };
        docker.shared.names().sync(vec![
            (WEB.into(), Some("/web".into())),
            (DB.into(), Some("db".into())),
        ]);
        docker
    }

    #[test]
    fn docker_host_names_the_socket() {
        assert_eq!(socket_from(None), PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            socket_from(Some("unix:///run/d.sock")),
            PathBuf::from("/run/d.sock")
        );
        assert_eq!(
            socket_from(Some("tcp://10.0.0.1:2375")),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(socket_from(Some("unix://")), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn missing_socket_says_why_and_names_nothing() {
        let mut docker = DockerNames::new(PathBuf::from("/nonexistent/ctrace/docker.sock"));
        assert_eq!(docker.resolve("web"), None);
        assert_eq!(docker.name_of(WEB), None);
        match docker.link() {
            Link::Down(why) => assert!(why.contains("no socket at"), "{why}"),
            other => panic!("{other:?}"),
        }
        let why = probe(Path::new("/nonexistent/ctrace/docker.sock")).unwrap_err();
        assert!(
            why.contains("no socket at /nonexistent/ctrace/docker.sock"),
            "{why}"
        );
    }

    #[test]
    fn a_socket_nobody_listens_on_is_refused() {
        let path = std::env::temp_dir().join(format!("ctrace-dead-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        // What a daemon that died leaves behind: the socket file, no listener.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let why = probe(&path).unwrap_err();
        assert!(why.contains("connection refused"), "{why}");
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn lookup_and_resolve_precedence() {
        let mut docker = listed();
        assert_eq!(docker.name_of(WEB).as_deref(), Some("web"));
        assert_eq!(docker.name_of(DB).as_deref(), Some("db"));
        assert_eq!(docker.resolve("web").as_deref(), Some(WEB));
        assert_eq!(docker.resolve("/db").as_deref(), Some(DB));
        assert_eq!(docker.resolve(WEB).as_deref(), Some(WEB));
        assert_eq!(docker.resolve("5b1e0c").as_deref(), Some(WEB));
        assert_eq!(docker.resolve("5B1E77").as_deref(), Some(DB));
        // Ambiguous or too short prefixes, and unknown names, fail.
        assert_eq!(docker.resolve("5b1e"), None);
        assert_eq!(docker.resolve("5b1"), None);
        assert_eq!(docker.resolve("nope"), None);
    }
}
