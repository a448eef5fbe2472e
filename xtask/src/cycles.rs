//! `cargo xtask lint`'s check of the layering: no two top-level modules of a crate may import
//! each other, directly or round a longer circle. Rust allows such circles; the architecture
//! does not (shared types sit below the problems that use them). Imports are read as text
//! (`crate::name` and the first names of `use crate::{...}`), tests left out.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use anyhow::{Result, bail};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// Fails with each circle of `src`'s top-level modules, and with each import of one problem's
/// folder by another's (`problems`: a problem is one folder), naming one file behind each arrow.
pub fn check(src: &Path, problems: &[&str]) -> Result<()> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    let mods: BTreeSet<String> = fs::read_dir(src)?
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match name.strip_suffix(".rs") {
                Some(m) => Some(m.to_string()),
                None => e.path().is_dir().then_some(name),
            }
        })
        .collect();
    let mut graph = Graph::new();
    let mut witness = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(src)?;
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.strip_suffix(".rs").unwrap_or(&top).to_string();
        for to in imports(&fs::read_to_string(&f)?) {
            if to != top && mods.contains(&to) {
                witness
                    .entry((top.clone(), to.clone()))
                    .or_insert_with(|| rel.display().to_string());
                graph.entry(top.clone()).or_default().insert(to);
            }
        }
    }
    let circles: Vec<String> = circles(&graph)
        .into_iter()
        .map(|c| {
            let arrows: Vec<String> = c
                .iter()
                .flat_map(|a| c.iter().map(move |b| (a, b)))
                .filter_map(|(a, b)| witness.get(&(a.clone(), b.clone())))
                .cloned()
                .collect();
            format!("{} (imports in {})", c.join(" <-> "), arrows.join(", "))
        })
        .collect();
    if !circles.is_empty() {
        bail!(
            "import circles between modules of {}: {}",
            src.display(),
            circles.join("; ")
        );
    }
    let sideways: Vec<String> = witness
        .iter()
        .filter(|((a, b), _)| problems.contains(&a.as_str()) && problems.contains(&b.as_str()))
        .map(|((a, b), file)| format!("{a} imports {b} (in {file})"))
        .collect();
    if !sideways.is_empty() {
        bail!(
            "a problem imports another (move what they share below both): {}",
            sideways.join("; ")
        );
    }
    Ok(())
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for e in fs::read_dir(dir)?.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out)?;
        } else if p.extension().is_some_and(|x| x == "rs")
            && !p.to_string_lossy().ends_with("_tests.rs")
        {
            out.push(p);
        }
    }
    Ok(())
}

/// The modules a file names: `crate::x` anywhere, and the first name of each item of a
/// `use crate::{...}` list. An inline `mod tests` at the end is left out.
fn imports(text: &str) -> BTreeSet<String> {
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or(text);
    let mut out = BTreeSet::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        if let Some(list) = rest.strip_prefix('{') {
            out.extend(list_heads(list));
        } else {
            out.insert(ident(rest));
        }
    }
    out.remove("");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

/// `a::{b, c}, d, e::f}` (after the opening brace): a, d, e.
fn list_heads(list: &str) -> Vec<String> {
    let (mut depth, mut heads, mut at_item) = (0, Vec::new(), true);
    for (i, c) in list.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => at_item = true,
            c if at_item && !c.is_whitespace() => {
                heads.push(ident(&list[i..]));
                at_item = false;
            }
            _ => {}
        }
    }
    heads
}

/// The strongly connected groups of more than one module (Tarjan's algorithm).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct State<'a> {
        g: &'a Graph,
        next: usize,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        for w in s.g.get(v).into_iter().flatten() {
            if !s.index.contains_key(w.as_str()) {
                visit(s, w);
                s.low.insert(v, s.low[v].min(s.low[w.as_str()]));
            } else if s.stack.contains(&w.as_str()) {
                s.low.insert(v, s.low[v].min(s.index[w.as_str()]));
            }
        }
        if s.low[v] == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                group.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.out.push(group);
            }
        }
    }
    let mut s = State {
        g,
        next: 0,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_read_from_paths_and_use_lists() {
        let text = "use crate::{\n    attrib::{A, b},\n    node, seccomp::x,\n};\nfn f() { crate::stop::now(); }\n#[cfg(test)]\nmod tests {\n use crate::live;\n}";
        let got: Vec<String> = imports(text).into_iter().collect();
        assert_eq!(got, ["attrib", "node", "seccomp", "stop"]);
    }

    #[test]
    fn a_circle_is_found_and_a_chain_is_not() {
        let mut g = Graph::new();
        for (a, b) in [("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")] {
            g.entry(a.into()).or_default().insert(b.into());
        }
        assert_eq!(circles(&g), [["a", "b", "c"]]);
        g.get_mut("c").unwrap().remove("a");
        assert!(circles(&g).is_empty());
    }

    #[test]
    fn a_problem_that_imports_another_fails_and_a_shared_module_does_not() {
        let src = std::env::temp_dir().join(format!("xtask-cycles-{}", std::process::id()));
        fs::create_dir_all(src.join("overlay")).unwrap();
        fs::write(src.join("shared.rs"), "").unwrap();
        fs::write(src.join("seccomp.rs"), "use crate::shared::X;\n").unwrap();
        fs::write(src.join("overlay/run.rs"), "use crate::shared::X;\n").unwrap();
        assert!(check(&src, &["seccomp", "overlay"]).is_ok());
        fs::write(
            src.join("overlay/run.rs"),
            "use crate::{seccomp::name, shared::X};\n",
        )
        .unwrap();
        let e = check(&src, &["seccomp", "overlay"])
            .unwrap_err()
            .to_string();
        fs::remove_dir_all(&src).unwrap();
        assert!(
            e.contains("overlay imports seccomp (in overlay/run.rs)"),
            "{e}"
        );
    }
}
