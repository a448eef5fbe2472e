//! The Docker side of `docker.rs`: bollard on a current-thread tokio runtime of its own thread
//! lists the containers once, then follows `/events` so a container is named when Docker
//! creates it, before its first process runs. Lost connections are retried with a backoff.

use std::collections::HashMap;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bollard::Docker;
use bollard::models::EventMessage;
use bollard::query_parameters::{EventsOptionsBuilder, ListContainersOptionsBuilder};
use futures_util::StreamExt;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use super::docker_names::{Link, Shared};

/// Each API request's limit (bollard counts whole seconds): a hung daemon costs this, on this
/// thread only.
const TIMEOUT_S: u64 = 2;
const MIN_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// The container events that carry or change a name, and the one that ends it.
const EVENTS: [&str; 4] = ["create", "start", "rename", "destroy"];

/// What the tracing loop asks of the event thread.
pub(super) enum Request {
    /// An id the stream has not named (a container from before a reconnect, or a race).
    Inspect(String),
    /// List every container again (`--container` names one not seen yet).
    Relist,
}

enum Ended {
    /// The sender was dropped: ctrace no longer wants names.
    Closed,
    Lost(String),
}

/// Starts the event thread; dropping the returned sender stops it.
pub(super) fn spawn(socket: std::path::PathBuf, shared: Arc<Shared>) -> UnboundedSender<Request> {
    let (tx, rx) = unbounded_channel();
    let state = shared.clone();
    let started = std::thread::Builder::new()
        .name("ctrace-docker".into())
        .spawn(move || match runtime() {
            Ok(rt) => rt.block_on(follow(&socket, &state, rx)),
            Err(e) => down(&state, format!("tokio runtime: {e}")),
        });
    if let Err(e) = started {
        down(&shared, format!("thread: {e}"));
    }
    tx
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

fn down(shared: &Shared, reason: String) {
    log::debug!("docker: {reason}");
    shared.names().set_link(Link::Down(reason));
    shared.notify();
}

async fn follow(socket: &Path, shared: &Arc<Shared>, mut rx: UnboundedReceiver<Request>) {
    let mut backoff = MIN_BACKOFF;
    loop {
        match session(socket, shared, &mut rx, &mut backoff).await {
            Ended::Closed => return,
            Ended::Lost(reason) => down(shared, reason),
        }
        let mut wait = pin!(tokio::time::sleep(backoff));
        loop {
            tokio::select! {
                _ = &mut wait => break,
                // Requests can't be served while down; the next list covers them.
                req = rx.recv() => if req.is_none() { return },
            }
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// One connection: a list, then the event stream until it fails.
async fn session(
    socket: &Path,
    shared: &Arc<Shared>,
    rx: &mut UnboundedReceiver<Request>,
    backoff: &mut Duration,
) -> Ended {
    let docker = match connect(socket).await {
        Ok(d) => d,
        Err(reason) => return Ended::Lost(reason),
    };
    // Events from just before the list on are replayed, so none falls between the two.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs().saturating_sub(1));
    if let Err(reason) = relist(&docker, shared).await {
        return Ended::Lost(reason);
    }
    *backoff = MIN_BACKOFF;
    let filters = HashMap::from([("type", vec!["container"]), ("event", EVENTS.to_vec())]);
    let options = EventsOptionsBuilder::new()
        .since(&since.to_string())
        .filters(&filters)
        .build();
    let mut events = pin!(docker.events(Some(options)));
    loop {
        tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(ev)) => apply(shared, &ev),
                Some(Err(e)) => return Ended::Lost(format!("event stream: {e}")),
                None => return Ended::Lost("the event stream ended (dockerd stopped?)".into()),
            },
            req = rx.recv() => match req {
                None => return Ended::Closed,
                Some(Request::Relist) => if let Err(reason) = relist(&docker, shared).await {
                    return Ended::Lost(reason);
                },
                // Off the event path: a slow inspect must not delay the stream.
                Some(Request::Inspect(id)) => {
                    tokio::spawn(inspect(docker.clone(), shared.clone(), id));
                }
            },
        }
    }
}

/// A client speaking the daemon's API version, or why there is none.
async fn connect(socket: &Path) -> Result<Docker, String> {
    reachable(socket).await?;
    let path = socket.to_str().ok_or("the socket path is not UTF-8")?;
    let docker = Docker::connect_with_unix(path, TIMEOUT_S, bollard::API_DEFAULT_VERSION)
        .map_err(|e| format!("{}: {e}", socket.display()))?;
    // An older daemon refuses a newer client's version in the URL.
    docker
        .negotiate_version()
        .await
        .map_err(|e| format!("{}: {e}", socket.display()))
}

/// Connects once to tell why a daemon can't be read in words an operator can act on.
async fn reachable(socket: &Path) -> Result<(), String> {
    let at = socket.display();
    let limit = Duration::from_secs(TIMEOUT_S);
    match tokio::time::timeout(limit, tokio::net::UnixStream::connect(socket)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(match e.kind() {
            std::io::ErrorKind::NotFound => format!("no socket at {at}"),
            std::io::ErrorKind::PermissionDenied => {
                format!("{at} is not readable by ctrace (permission denied)")
            }
            std::io::ErrorKind::ConnectionRefused => {
                format!("{at}: connection refused (dockerd is not running)")
            }
            _ => format!("{at}: {e}"),
        }),
        Err(_) => Err(format!("{at}: no answer within {TIMEOUT_S} s")),
    }
}

async fn relist(docker: &Docker, shared: &Shared) -> Result<(), String> {
    let options = ListContainersOptionsBuilder::new().all(true).build();
    let list = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| format!("listing containers: {e}"))?;
    let named = list
        .into_iter()
        .filter_map(|c| Some((c.id?, primary_name(c.names.as_deref().unwrap_or_default()))))
        .collect::<Vec<_>>();
    log::debug!("docker: {} containers", named.len());
    shared.names().sync(named);
    shared.notify();
    Ok(())
}

async fn inspect(docker: Docker, shared: Arc<Shared>, id: String) {
    match docker.inspect_container(&id, None).await {
        Ok(c) => {
            log::debug!("docker: {id} is {:?} (inspected)", c.name);
            shared.names().learn(&id, c.name.as_deref());
        }
        // Not Docker's (another runtime's id under a Kubernetes path), or gone already.
        Err(e) => log::debug!("docker: inspect {id}: {e}"),
    }
}

fn apply(shared: &Shared, ev: &EventMessage) {
    let Some(actor) = &ev.actor else { return };
    let Some(id) = &actor.id else { return };
    let name = actor
        .attributes
        .as_ref()
        .and_then(|a| a.get("name"))
        .map(String::as_str);
    let Some(action) = ev.action.as_deref() else {
        return;
    };
    log::debug!("docker: {id} is {name:?} ({action} event)");
    let mut names = shared.names();
    match action {
        "destroy" => names.gone(id),
        _ => names.learn(id, name),
    }
}

/// Docker lists legacy link aliases (`/web/db`) next to the real name; the real one is the
/// name with no further '/'.
fn primary_name(names: &[String]) -> Option<String> {
    names
        .iter()
        .find(|n| !n.trim_start_matches('/').contains('/'))
        .or(names.first())
        .cloned()
}

/// `doctor`'s question on a runtime of its own: the daemon's version, or why it can't be read.
pub(super) fn probe(socket: &Path) -> Result<String, String> {
    let rt = runtime().map_err(|e| format!("tokio runtime: {e}"))?;
    rt.block_on(async {
        let docker = connect(socket).await?;
        let v = docker
            .version()
            .await
            .map_err(|e| format!("{}: {e}", socket.display()))?;
        Ok(format!(
            "Docker {} (API {})",
            v.version.as_deref().unwrap_or("?"),
            v.api_version.as_deref().unwrap_or("?")
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::EventActor;

    fn event(action: &str, id: &str, name: &str) -> EventMessage {
        EventMessage {
            action: Some(action.into()),
            actor: Some(EventActor {
                id: Some(id.into()),
                attributes: Some(HashMap::from([("name".to_string(), name.to_string())])),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn events_name_rename_and_keep_destroyed_containers() {
        let shared = Shared::default();
        let id = "c0".repeat(32);
        apply(&shared, &event("create", &id, "web"));
        apply(&shared, &event("rename", &id, "front"));
        apply(&shared, &event("destroy", &id, "front"));
        // Destroyed, and still named for the events it left behind.
        assert_eq!(shared.names().name(&id), Some(Some("front".into())));
        apply(&shared, &event("start", &"d1".repeat(32), "db"));
        assert_eq!(
            shared.names().name(&"d1".repeat(32)),
            Some(Some("db".into()))
        );
    }

    #[test]
    fn primary_name_skips_link_aliases() {
        let names = ["/web/db".to_string(), "/db".to_string()];
        assert_eq!(primary_name(&names).as_deref(), Some("/db"));
        assert_eq!(primary_name(&[]), None);
    }
}
