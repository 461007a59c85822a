//! The core's rooms stay livable: no module of `core/src` imports one that
//! imports it back (directly or around a circle), no glob import of a
//! parent (test modules included), and no file of the driver over 600 lines.
//! Read from the sources, so that a change that breaks one says so here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file without its test module and without comments.
fn code(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(at) => &text[..at],
        None => &text[..],
    };
    text.lines().map(str::trim).filter(|l| !l.starts_with("//")).map(str::to_owned).collect()
}

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Top-level module of a file (`driver` for `src/driver/running.rs`).
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

#[test]
fn no_module_of_the_core_imports_one_that_imports_it_back() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let from = module_of(file);
        if from == "lib" {
            continue;
        }
        let uses = graph.entry(from.clone()).or_default();
        for line in code(file) {
            for (at, _) in line.match_indices("crate::") {
                let to: String =
                    line[at + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
                if !to.is_empty() && to != from {
                    uses.insert(to);
                }
            }
        }
    }
    // Any circle shows as a module that reaches itself.
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = graph[start].iter().collect();
        while let Some(m) = todo.pop() {
            assert_ne!(m, start, "{start} imports a module that imports {start} back: {graph:?}");
            if seen.insert(m.clone()) {
                todo.extend(graph.get(m).into_iter().flatten());
            }
        }
    }
}

#[test]
fn no_glob_import_of_a_parent_and_no_driver_file_over_600_lines() {
    let mut files = Vec::new();
    sources(&src(), &mut files);
    for file in &files {
        // Test modules too: what a name is stays visible where it is used.
        for line in std::fs::read_to_string(file).unwrap().lines() {
            assert!(!line.trim().starts_with("use super::*"), "{}: {line}", file.display());
        }
    }
    let mut driver = Vec::new();
    sources(&src().join("driver"), &mut driver);
    for file in driver {
        let lines = std::fs::read_to_string(&file).unwrap().lines().count();
        assert!(lines <= 600, "{} has {lines} lines", file.display());
    }
}
