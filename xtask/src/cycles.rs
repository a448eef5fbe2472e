//! `cargo xtask lint`'s check of the layering: no two top-level modules of a crate may import
//! each other, directly or round a longer circle. Rust allows such circles; the architecture
//! does not (shared types sit below the problems that use them). Imports are read from the code
//! with comments and string literals blanked: `crate::name`, the first names of
//! `use crate::{...}`, and calls of a `#[macro_export]` macro (which count as an import of the
//! module that defines it). Tests are left out.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::Path,
};

use anyhow::{Result, bail};

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The problem a top-level module belongs to: its own name, or `seccomp` for `seccomp_filter`.
fn problem_of<'a>(module: &str, problems: &[&'a str]) -> Option<&'a str> {
    problems.iter().copied().find(|p| {
        module == *p
            || module
                .strip_prefix(p)
                .is_some_and(|rest| rest.starts_with('_'))
    })
}

/// Fails with each circle of `src`'s top-level modules, and with each import of one problem's
/// modules by another's (`problems`: a problem is one folder, or `name.rs` with `name_*.rs`
/// files beside it), naming one file behind each arrow.
pub fn check(src: &Path, problems: &[&str]) -> Result<()> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    let mut code = Vec::new();
    for f in files {
        let text = code_only(&fs::read_to_string(&f)?);
        let rel = f.strip_prefix(src)?.to_path_buf();
        code.push((rel, text));
    }
    // `#[macro_export]` macros are used by bare name: each is an import of its defining module.
    let mut macros = BTreeMap::new();
    for (rel, text) in &code {
        for name in exported_macros(text) {
            macros.insert(name, top_module(rel));
        }
    }
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
    for (rel, text) in &code {
        let top = top_module(rel);
        let mut uses = imports(text);
        uses.extend(
            macros
                .iter()
                .filter(|(name, _)| calls_macro(text, name))
                .map(|(_, module)| module.clone()),
        );
        for to in uses {
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
        .filter(|((a, b), _)| {
            let (pa, pb) = (problem_of(a, problems), problem_of(b, problems));
            pa.is_some() && pb.is_some() && pa != pb
        })
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

/// The top-level module a file (relative to `src`) is part of.
fn top_module(rel: &Path) -> String {
    let top = rel
        .components()
        .next()
        .unwrap()
        .as_os_str()
        .to_string_lossy();
    top.strip_suffix(".rs").unwrap_or(&top).to_string()
}

/// Whether `name!` appears as a whole name.
fn calls_macro(text: &str, name: &str) -> bool {
    let call = format!("{name}!");
    text.match_indices(&call).any(|(at, _)| {
        !text[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

/// The names of the `#[macro_export]` macros a file defines.
fn exported_macros(text: &str) -> Vec<String> {
    text.split("#[macro_export]")
        .skip(1)
        .filter_map(|after| {
            let rest = after.trim_start().strip_prefix("macro_rules!")?;
            Some(ident(rest.trim_start()))
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// The text with every comment and the inside of every string and char literal blanked
/// (newlines kept), so that neither can pass for an import.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let blank = |out: &mut Vec<u8>, c: u8| out.push(if c == b'\n' { c } else { b' ' });
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if rest.starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    if depth == 0 {
                        out.extend_from_slice(b"  ");
                        i += 2;
                        break;
                    }
                }
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if let Some(hashes) = raw_string_start(rest) {
            // r"..." or r#"..."#: ends at a quote followed by as many hashes.
            let close: Vec<u8> = std::iter::once(b'"')
                .chain(std::iter::repeat_n(b'#', hashes))
                .collect();
            let open = hashes + 2;
            out.extend_from_slice(&rest[..open]);
            i += open;
            while i < b.len() && !b[i..].starts_with(&close) {
                blank(&mut out, b[i]);
                i += 1;
            }
        } else if b[i] == b'"' || (b[i] == b'\'' && is_char_literal(rest)) {
            let quote = b[i];
            out.push(quote);
            i += 1;
            while i < b.len() && b[i] != quote {
                if b[i] == b'\\' && i + 1 < b.len() {
                    blank(&mut out, b[i]);
                    i += 1;
                }
                blank(&mut out, b[i]);
                i += 1;
            }
            if i < b.len() {
                out.push(quote);
                i += 1;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `r"` or `r#"` (not part of a longer name): the number of hashes.
fn raw_string_start(rest: &[u8]) -> Option<usize> {
    let after_r = rest.strip_prefix(b"r")?;
    let hashes = after_r.iter().take_while(|c| **c == b'#').count();
    (after_r.get(hashes) == Some(&b'"')).then_some(hashes)
}

/// A quote that opens a char literal (`'x'`, `'\n'`), not a lifetime (`'a`).
fn is_char_literal(rest: &[u8]) -> bool {
    match rest.get(1) {
        Some(b'\\') => true,
        Some(_) => {
            // One UTF-8 character, then the closing quote.
            let len = std::str::from_utf8(&rest[1..rest.len().min(5)])
                .ok()
                .or_else(|| std::str::from_utf8(&rest[1..2]).ok())
                .and_then(|s| s.chars().next())
                .map_or(1, char::len_utf8);
            rest.get(1 + len) == Some(&b'\'')
        }
        None => false,
    }
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
    fn comments_and_strings_are_not_imports() {
        let text = "// crate::live\n/* crate::a /* crate::b */ */\nlet s = \"crate::c \\\" crate::d\";\n\
                    let r = r#\"crate::e\"#; let q = '\"'; fn f<'a>(x: &'a u8) { crate::node::g(); }";
        let got: Vec<String> = imports(&code_only(text)).into_iter().collect();
        assert_eq!(got, ["node"]);
    }

    #[test]
    fn an_exported_macro_is_an_import_of_its_module() {
        let text = "#[macro_export]\nmacro_rules! outln {\n () => {};\n}";
        assert_eq!(exported_macros(text), ["outln"]);
        assert!(calls_macro("fn f() { outln!(\"x\"); }", "outln"));
        assert!(!calls_macro("fn f() { shoutln!(\"x\"); }", "outln"));
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
        assert!(
            e.contains("overlay imports seccomp (in overlay/run.rs)"),
            "{e}"
        );
        // A problem's files beside it (`seccomp_filter.rs`) are the problem's own.
        fs::write(src.join("overlay/run.rs"), "use crate::shared::X;\n").unwrap();
        fs::write(src.join("seccomp_filter.rs"), "use crate::seccomp::Y;\n").unwrap();
        assert!(check(&src, &["seccomp", "overlay"]).is_ok());
        fs::write(
            src.join("overlay_walk.rs"),
            "use crate::seccomp_filter::Z;\n",
        )
        .unwrap();
        let e = check(&src, &["seccomp", "overlay"])
            .unwrap_err()
            .to_string();
        fs::remove_dir_all(&src).unwrap();
        assert!(
            e.contains("overlay_walk imports seccomp_filter (in overlay_walk.rs)"),
            "{e}"
        );
    }
}
