//! containers/storage, where podman and CRI-O keep their containers: `containers.json` in
//! `<root>/<driver>-containers/` lists each container's id and names, and the container's OCI
//! spec is `<root>/<driver>-containers/<id>/userdata/config.json` (podman: under the graph root
//! `/var/lib/containers/storage`; CRI-O: under the run root `/run/containers/storage`).

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub const ROOTS: &[&str] = &["/var/lib/containers/storage", "/run/containers/storage"];
/// Thousands of containers fit in a few MB; the bound keeps a corrupt file from costing memory.
const MAX_LIST: u64 = 64 << 20;

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    names: Vec<String>,
}

/// The `<driver>-containers` folders under `roots`.
fn container_dirs(roots: &[PathBuf]) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for root in roots {
        let Ok(entries) = fs::read_dir(root) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.ends_with("-containers"))
            {
                dirs.push(e.path());
            }
        }
    }
    dirs
}

/// The container's config.json, if any root holds one for `id`.
pub fn spec_of(roots: &[PathBuf], id: &str) -> Option<PathBuf> {
    container_dirs(roots)
        .into_iter()
        .map(|d| d.join(id).join("userdata/config.json"))
        .find(|p| p.is_file())
}

/// The first name containers/storage records for `id`.
pub fn name_of(roots: &[PathBuf], id: &str) -> Option<String> {
    container_dirs(roots).into_iter().find_map(|d| {
        let list = read_list(&d.join("containers.json"))?;
        list.get(id).cloned().flatten()
    })
}

/// containers.json as id -> first name.
fn read_list(path: &Path) -> Option<HashMap<String, Option<String>>> {
    let mut text = Vec::new();
    File::open(path)
        .ok()?
        .take(MAX_LIST)
        .read_to_end(&mut text)
        .ok()?;
    parse_list(&text)
}

fn parse_list(text: &[u8]) -> Option<HashMap<String, Option<String>>> {
    let list: Vec<Entry> = serde_json::from_slice(text).ok()?;
    Some(
        list.into_iter()
            .map(|e| (e.id.to_ascii_lowercase(), e.names.into_iter().next()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As podman 4.3 wrote it on this machine.
    const PODMAN_LIST: &str = r#"[{"id":"a89e2f21239e0c5e4d2ec196fdacd54dcc53887f8d3593ceb9801e1e5c22aaf1","names":["ctrace-pm-exp"],"image":"e95c0b369e4dd8f7a61e56baae9a43c7a1e25eb0af0f7f30139292afedde181f","layer":"dd3f3a5c4e77cb9b424093ef16c3647b8c7721800d2ba1fc0cc69c629f90767f","metadata":"{\"image-name\":\"localhost/ctrace-busybox:test\",\"name\":\"ctrace-pm-exp\",\"created-at\":1796204605}","created":"2026-12-02T09:43:25.466009697Z","flags":{"MountLabel":"","ProcessLabel":""}}]"#;

    #[test]
    fn names_from_a_podman_list() {
        let list = parse_list(PODMAN_LIST.as_bytes()).unwrap();
        let id = "a89e2f21239e0c5e4d2ec196fdacd54dcc53887f8d3593ceb9801e1e5c22aaf1";
        assert_eq!(list[id].as_deref(), Some("ctrace-pm-exp"));
        assert!(parse_list(b"not json").is_none());
    }

    #[test]
    fn spec_and_name_under_a_root() {
        let root = std::env::temp_dir().join(format!("ctrace-storage-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let id = "d".repeat(64);
        let user = root.join("overlay-containers").join(&id).join("userdata");
        fs::create_dir_all(&user).unwrap();
        fs::write(user.join("config.json"), "{}").unwrap();
        fs::write(
            root.join("overlay-containers/containers.json"),
            format!(r#"[{{"id":"{id}","names":["db"]}}]"#),
        )
        .unwrap();
        let roots = [PathBuf::from("/nonexistent/ctrace"), root.clone()];
        assert_eq!(spec_of(&roots, &id), Some(user.join("config.json")));
        assert_eq!(name_of(&roots, &id).as_deref(), Some("db"));
        assert_eq!(spec_of(&roots, &"e".repeat(64)), None);
        assert_eq!(name_of(&roots, &"e".repeat(64)), None);
        fs::remove_dir_all(root).unwrap();
    }
}
