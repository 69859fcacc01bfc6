//! The module graph points one way (STYLE.md 15): state, errors and storage at the
//! bottom, routes above them, the document and the app on top. A `crate::` path from one
//! top-level module to another is an edge; a cycle fails the test, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every top-level module of `src/` and the top-level modules its code (not its comments)
/// names through `crate::`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
            if module == "lib" || module == "main" {
                continue;
            }
            let code = std::fs::read_to_string(&path).unwrap();
            let edges = graph.entry(module.clone()).or_default();
            for line in code.lines() {
                let line = line.split("//").next().unwrap_or_default();
                for (at, _) in line.match_indices("crate::") {
                    let name: String = line[at + "crate::".len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        edges.insert(name);
                    }
                }
            }
        }
    }
    graph
}

/// A cycle through `from`, if there is one: the modules along it.
fn cycle_from(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|m| m == from) {
        let mut cycle = path[at..].to_vec();
        cycle.push(from.to_owned());
        return Some(cycle);
    }
    path.push(from.to_owned());
    for next in graph.get(from).into_iter().flatten() {
        if let Some(cycle) = cycle_from(graph, next, path) {
            return Some(cycle);
        }
    }
    path.pop();
    None
}

#[test]
fn no_two_modules_depend_on_each_other_through_any_path() {
    let graph = module_graph();
    assert!(graph.contains_key("routes") && graph.contains_key("store"));
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module, &mut Vec::new()) {
            panic!(
                "the modules depend on each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn routes_sit_above_state_and_errors_and_below_the_document_and_the_app() {
    let graph = module_graph();
    for low in ["domain", "store", "error", "state", "auth"] {
        for high in ["routes", "openapi", "app"] {
            assert!(
                !graph[low].contains(high),
                "{low} uses {high}, which sits above it"
            );
        }
    }
    assert!(!graph["routes"].contains("openapi") && !graph["routes"].contains("app"));
}
