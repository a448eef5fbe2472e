//! Container names from the Docker Engine API. A thread of its own (`docker_events.rs`) follows
//! Docker's event stream and fills a cache; the tracing loop only reads that cache, so a slow or
//! dead daemon never stalls the drain path.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::docker_events::{self, Request};

pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// A destroyed container's name is kept at least this long: its last events may still be
/// waiting in the ring buffer, and its findings are reported after it is gone.
const RETAIN: Duration = Duration::from_secs(600);
/// Bounds memory under container churn; only destroyed containers are dropped.
const LIMIT: usize = 4096;
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

/// The state of the event stream.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Link {
    #[default]
    Connecting,
    Up,
    /// Why the daemon can't be read; retried with a backoff.
    Down(String),
}

struct Known {
    name: Option<String>,
    /// When the container was destroyed (or vanished from a list).
    gone: Option<Instant>,
}

/// What the event thread learned, read by the tracing loop.
#[derive(Default)]
pub(super) struct Names {
    by_id: HashMap<String, Known>,
    link: Link,
    /// Completed container lists: `resolve` waits for one.
    syncs: u64,
}

impl Names {
    /// A container's name, from an event, a list or an inspect (a rename replaces it).
    pub(super) fn learn(&mut self, id: &str, name: Option<&str>) {
        let name = name.map(|n| n.strip_prefix('/').unwrap_or(n).to_string());
        self.by_id
            .insert(id.to_ascii_lowercase(), Known { name, gone: None });
        self.prune();
    }

    /// The container was destroyed: its name stays for `RETAIN`.
    pub(super) fn gone(&mut self, id: &str) {
        if let Some(k) = self.by_id.get_mut(&id.to_ascii_lowercase()) {
            k.gone.get_or_insert_with(Instant::now);
        }
    }

    /// A full container list: every container in it is known; those missing were destroyed
    /// while ctrace was not listening.
    pub(super) fn sync(&mut self, list: Vec<(String, Option<String>)>) {
        let listed: HashSet<String> = list.iter().map(|(id, _)| id.to_ascii_lowercase()).collect();
        for k in self
            .by_id
            .iter_mut()
            .filter(|(id, _)| !listed.contains(*id))
            .map(|(_, k)| k)
        {
            k.gone.get_or_insert_with(Instant::now);
        }
        for (id, name) in list {
            self.learn(&id, name.as_deref());
        }
        self.syncs += 1;
        self.link = Link::Up;
    }

    /// Some(name) once the container is known (the name itself may be absent).
    pub(super) fn name(&self, id: &str) -> Option<Option<String>> {
        self.by_id.get(id).map(|k| k.name.clone())
    }

    pub(super) fn set_link(&mut self, link: Link) {
        self.link = link;
    }

    fn prune(&mut self) {
        if self.by_id.len() <= LIMIT {
            return;
        }
        self.by_id
            .retain(|_, k| k.gone.is_none_or(|t| t.elapsed() < RETAIN));
        // Still over: the longest gone go first; running containers always stay.
        let mut gone: Vec<(Instant, String)> = self
            .by_id
            .iter()
            .filter_map(|(id, k)| Some((k.gone?, id.clone())))
            .collect();
        gone.sort_unstable();
        let excess = self.by_id.len().saturating_sub(LIMIT);
        for (_, id) in gone.into_iter().take(excess) {
            self.by_id.remove(&id);
        }
    }

    /// Full id from a name (with or without the leading '/'), a full id, or an unambiguous id
    /// prefix of at least 4 hex characters, among containers not destroyed.
    fn lookup(&self, query: &str) -> Option<String> {
        let query = query.strip_prefix('/').unwrap_or(query);
        if query.is_empty() {
            return None;
        }
        let live = || self.by_id.iter().filter(|(_, k)| k.gone.is_none());
        // Same precedence as the docker CLI: full id, then name, then id prefix.
        if live().any(|(id, _)| id == query) {
            return Some(query.to_string());
        }
        if let Some((id, _)) = live().find(|(_, k)| k.name.as_deref() == Some(query)) {
            return Some(id.clone());
        }
        if query.len() >= 4 && query.bytes().all(|b| b.is_ascii_hexdigit()) {
            let prefix = query.to_ascii_lowercase();
            let mut hits = live().filter(|(id, _)| id.starts_with(&prefix));
            if let (Some((id, _)), None) = (hits.next(), hits.next()) {
                return Some(id.clone());
            }
        }
        None
    }
}

/// The cache and a signal for whoever waits on its next list.
#[derive(Default)]
pub(super) struct Shared {
    names: Mutex<Names>,
    changed: Condvar,
}

impl Shared {
    pub(super) fn names(&self) -> MutexGuard<'_, Names> {
        // A panic elsewhere must not take names away: the data stays usable.
        self.names.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes `resolve` after a list or a change of link.
    pub(super) fn notify(&self) {
        self.changed.notify_all();
    }

    /// Waits up to `limit` for `done` to hold; true when it does.
    fn wait_for(&self, limit: Duration, done: impl Fn(&Names) -> bool) -> bool {
        let guard = self.names();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, limit, |n| !done(n))
            .unwrap_or_else(|e| e.into_inner());
        done(&guard)
    }
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

    #[test]
    fn names_outlive_the_container_and_follow_renames() {
        let docker = listed();
        let mut names = docker.shared.names();
        names.learn(WEB, Some("web2"));
        names.gone(WEB);
        // Destroyed: still named for its late events, but no longer resolvable.
        assert_eq!(names.by_id[WEB].name.as_deref(), Some("web2"));
        assert_eq!(names.lookup("web2"), None);
        // A list that lacks DB means it was destroyed meanwhile; a new one appears.
        names.sync(vec![("ab".repeat(32), Some("/new".into()))]);
        assert!(names.by_id[DB].gone.is_some());
        assert_eq!(names.lookup("new"), Some("ab".repeat(32)));
    }

    #[test]
    fn churn_drops_only_destroyed_containers() {
        let mut names = Names::default();
        names.learn("running", Some("keep"));
        for i in 0..LIMIT + 10 {
            let id = format!("{i:064x}");
            names.learn(&id, None);
            names.gone(&id);
        }
        assert!(names.by_id.len() <= LIMIT + 1, "{}", names.by_id.len());
        assert_eq!(names.by_id["running"].name.as_deref(), Some("keep"));
    }
}
