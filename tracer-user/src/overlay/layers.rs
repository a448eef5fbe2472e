//! What the layers of an overlay mount say about a file, read on the host: which lower layer
//! holds it, its other hard-linked names there, and the mount's index and metacopy settings.

use std::{fs, path::Path};

use super::{
    module_param,
    mounts::{self, Mount, Stat},
};

/// Entries looked at, at most, when searching a layer for a file's other names.
const SEARCH_CAP: usize = 50_000;
/// Other names reported, at most.
const NAMES_CAP: usize = 16;

/// The file at `rel` in the topmost lower layer that has it: (layer, its stat).
pub fn in_lower<'a>(m: &'a Mount, rel: &str) -> Option<(&'a str, Stat)> {
    m.lower
        .iter()
        .find_map(|l| mounts::stat(&format!("{l}/{rel}")).map(|s| (l.as_str(), s)))
}

/// A mount option if given, else the module parameter (Y/N) it defaults to.
fn setting(opt: Option<&str>, param: &str) -> bool {
    match opt {
        Some(v) => v == "on",
        None => module_param(param).is_some_and(|v| v == "Y"),
    }
}

/// Whether copy-ups keep hard links together (the inodes index).
pub fn index_on(m: &Mount) -> bool {
    setting(m.index.as_deref(), "index")
}

/// Whether a metadata-only change copies up metadata only.
pub fn metacopy_on(m: &Mount) -> bool {
    setting(m.metacopy.as_deref(), "metacopy")
}

/// Other names of the file (`dev`, `ino`) in `layer`, as seen through the mount (`rel` aside).
pub fn other_names(m: &Mount, layer: &str, rel: &str, file: &Stat) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = 0;
    let mut stack = vec![String::new()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = fs::read_dir(Path::new(layer).join(&dir)) else {
            continue;
        };
        for e in rd.flatten() {
            seen += 1;
            if seen > SEARCH_CAP || out.len() >= NAMES_CAP {
                return out;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            let sub = if dir.is_empty() {
                name
            } else {
                format!("{dir}/{name}")
            };
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(sub);
            } else if ft.is_file()
                && sub != rel
                && mounts::stat(&format!("{layer}/{sub}"))
                    .is_some_and(|s| s.ino == file.ino && s.dev == file.dev)
            {
                out.push(format!("{}/{sub}", m.mount_point.trim_end_matches('/')));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_other_names_of_a_hard_link() {
        let d = std::env::temp_dir().join(format!("ctrace-layers-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(d.join("sub")).unwrap();
        fs::write(d.join("a"), b"x").unwrap();
        fs::hard_link(d.join("a"), d.join("sub/b")).unwrap();
        fs::write(d.join("c"), b"x").unwrap();
        let layer = d.display().to_string();
        let m = Mount {
            mount_point: "/m".into(),
            lower: vec![layer.clone()],
            ..Default::default()
        };
        let (l, st) = in_lower(&m, "a").unwrap();
        assert_eq!(st.nlink, 2);
        assert_eq!(other_names(&m, l, "a", &st), ["/m/sub/b"]);
        let (_, c) = in_lower(&m, "c").unwrap();
        assert!(other_names(&m, l, "c", &c).is_empty());
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_mount_option_overrides_the_module_default() {
        let mut m = Mount {
            index: Some("off".into()),
            ..Default::default()
        };
        assert!(!index_on(&m));
        m.index = Some("on".into());
        assert!(index_on(&m));
    }
}
