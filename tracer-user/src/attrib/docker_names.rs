//! The cache of Docker container names: filled by the event thread (`docker_events.rs`), read
//! by the tracing loop (`docker.rs`) without a daemon round trip.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A destroyed container's name is kept at least this long: its last events may still be
/// waiting in the ring buffer, and its findings are reported after it is gone.
const RETAIN: Duration = Duration::from_secs(600);
/// Bounds memory under container churn; only destroyed containers are dropped.
pub(super) const LIMIT: usize = 4096;
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
    pub(super) link: Link,
    /// Completed container lists: `resolve` waits for one.
    pub(super) syncs: u64,
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
    pub(super) fn lookup(&self, query: &str) -> Option<String> {
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
    pub(super) fn wait_for(&self, limit: Duration, done: impl Fn(&Names) -> bool) -> bool {
        let guard = self.names();
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, limit, |n| !done(n))
            .unwrap_or_else(|e| e.into_inner());
        done(&guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrib::docker::tests::{DB, WEB};

    #[test]
    fn names_outlive_the_container_and_follow_renames() {
        let mut names = Names::default();
        names.sync(vec![
            (WEB.into(), Some("/web".into())),
            (DB.into(), Some("db".into())),
        ]);
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
