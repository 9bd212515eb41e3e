//! No two files of a crate import each other, directly or around a loop: every crate of the
//! workspace is read, each file's `crate::…` and `super::…` paths (outside its tests) are
//! resolved to the file they name, and the graph must have no cycle. Loops made every change a
//! change of several files at once (issue 11: a 7-file loop in want-node, tx.rs ↔ trace.rs in
//! want-types).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `src/kernel/node.rs` → `kernel::node`, `src/api/mod.rs` → `api`.
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts
        .last()
        .is_some_and(|l| l == "mod" || l == "lib" || l == "main")
    {
        parts.pop();
    }
    parts
}

/// The code of a file without its test module (everything from a top-level `#[cfg(test)]`)
/// and without comments (documentation names paths it does not depend on).
fn code_of(text: &str) -> String {
    let code = match text.find("\n#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    code.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file's code names: `crate::a::b::{c, d}` gives `a::b::c`, `a::b::d`
/// (and `a::b`); `super::x` is resolved against the file's own module.
fn named_paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (start, prefix) in code
        .match_indices("crate::")
        .map(|(i, _)| (i, None))
        .chain(code.match_indices("super::").map(|(i, _)| (i, Some(()))))
    {
        // Not part of a longer identifier (`want_crate::`, `my_super::`).
        if start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_') {
            continue;
        }
        let rest = &code[start..];
        let path: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        let mut segments: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        match prefix {
            None => {
                segments.remove(0); // crate
            }
            Some(()) => {
                let mut base: Vec<String> = module.to_vec();
                while segments.first().is_some_and(|s| s == "super") {
                    segments.remove(0);
                    base.pop();
                }
                base.extend(segments);
                segments = base;
            }
        }
        // A group `crate::a::{b, c}`: each member too.
        let after = &rest[path.len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for member in group[..end].split(',') {
                let name: String = member
                    .trim()
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !name.is_empty() {
                    let mut p = segments.clone();
                    p.push(name);
                    out.push(p);
                }
            }
        }
        out.push(segments);
    }
    out
}

/// The file (by module path) a path names: its longest prefix that is a file's module.
fn resolve<'a>(modules: &'a BTreeSet<Vec<String>>, path: &[String]) -> Option<&'a Vec<String>> {
    (1..=path.len())
        .rev()
        .find_map(|n| modules.get(&path[..n].to_vec()))
}

/// A cycle of the graph, if any (depth-first search).
fn find_cycle(graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        node: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        stack: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Open) => {
                let at = stack.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle: Vec<String> = stack[at..].iter().map(|m| m.join("::")).collect();
                cycle.push(node.join("::"));
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node.clone(), Mark::Open);
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node.clone(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if let Some(c) = visit(node, graph, &mut marks, &mut Vec::new()) {
            return Some(c);
        }
    }
    None
}

/// The import graph of the crate whose sources are under `src`: file → files it names.
fn import_graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let module = module_of(src, f);
        let text = std::fs::read_to_string(f).unwrap();
        let mut edges = BTreeSet::new();
        for path in named_paths(&module, &code_of(&text)) {
            if let Some(target) = resolve(&modules, &path) {
                // A file naming its own parent module's items (`super::Thing` declared in
                // mod.rs) depends on the parent; the parent declaring the child is not an edge.
                if *target != module && !module.starts_with(target.as_slice()) {
                    edges.insert(target.clone());
                }
            }
        }
        graph.insert(module, edges);
    }
    graph
}

#[test]
fn no_crate_has_an_import_loop_between_its_files() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    for entry in std::fs::read_dir(&crates).unwrap() {
        let src = entry.unwrap().path().join("src");
        if !src.is_dir() {
            continue;
        }
        let graph = import_graph(&src);
        if let Some(cycle) = find_cycle(&graph) {
            panic!(
                "{}: files import each other in a loop: {}",
                src.display(),
                cycle.join(" -> ")
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 9,
        "only {checked} crates found under {}",
        crates.display()
    );
}

#[test]
fn the_loop_finder_finds_a_loop_through_super_and_groups() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a; pub mod c;").unwrap();
    std::fs::write(src.join("a/mod.rs"), "pub mod b;").unwrap();
    std::fs::write(src.join("a/b.rs"), "use crate::{c::X, d};\nfn f() {}").unwrap();
    std::fs::write(
        src.join("c.rs"),
        "pub struct X;\nfn g() { super::a::b::f(); }\n#[cfg(test)]\nmod t { use crate::a; }",
    )
    .unwrap();
    let cycle = find_cycle(&import_graph(src)).expect("a::b -> c -> a::b is a loop");
    assert!(cycle.contains(&"c".to_string()), "{cycle:?}");
    std::fs::write(src.join("c.rs"), "pub struct X;").unwrap();
    assert_eq!(find_cycle(&import_graph(src)), None);
}
