//! The module graph points one way (docs/development.md, the three seams): state, errors and storage at the
//! bottom, routes above them, the document and the app on top; and inside every folder
//! the same holds between the modules side by side (`store::engine::pg` and
//! `store::engine::sql`, `domain::key` and `domain::token`). A circle at any depth fails
//! a test, naming it.
//!
//! An edge is a path the code (not its comments or strings) names: `crate::a::b`,
//! `super::b`, `self::b`, a child module by its bare name, or a name a `use` brought in.
//! A path through a re-export (`crate::store::Conn`) counts as naming the module that
//! defines the item, so a folder's `mod.rs` that only re-exports hides no edge. Between
//! two modules, the edge belongs to the folder that holds both: `store::engine::pg`
//! naming `store::events` is an edge from `engine` to `events` inside `store/`. A module
//! naming its own folder's `mod.rs` (`super::Item` defined there) or a module inside it
//! is not an edge between siblings: a folder's `mod.rs` holds what its modules share
//! (docs/development.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module by its path below the crate root: `["store", "engine", "pg"]`.
type Module = Vec<String>;

/// A folder's modules (its direct children) and, for each, the siblings it names.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// One source file: the module it is, and its code as tokens (comments and literals gone).
struct Source {
    module: Module,
    tokens: Vec<String>,
}

/// The crate as the tests see it: its modules, what each re-exports, and every path its
/// code names (the module naming it, the path made absolute).
struct Crate {
    modules: BTreeSet<Module>,
    /// (module, name it exports) -> the absolute path it re-exports.
    reexports: BTreeMap<(Module, String), Vec<String>>,
    /// (module whose code names it, absolute path named).
    paths: Vec<(Module, Vec<String>)>,
}

/// Reads every `.rs` file of the library (`src/`, without the binary's `main.rs`).
fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = Vec::new();
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
            let relative = path.strip_prefix(&src).unwrap().with_extension("");
            let mut module: Module = relative
                .components()
                .map(|c| c.as_os_str().to_str().unwrap().to_owned())
                .collect();
            if module == ["main"] {
                continue;
            }
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            let code = std::fs::read_to_string(&path).unwrap();
            sources.push(Source {
                module,
                tokens: tokens(&code),
            });
        }
    }
    sources
}

/// The code's identifiers, `::` and punctuation, without comments, strings, characters
/// and lifetimes.
fn tokens(code: &str) -> Vec<String> {
    let chars: Vec<char> = code.chars().collect();
    let ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                i += if chars[i] == '\\' { 2 } else { 1 };
            }
            i += 1;
        } else if c == '\'' {
            // A character ('x', '\n', '\u{1F600}') or a lifetime ('a, 'static).
            if next == Some('\\') {
                // The quote, the backslash and the escaped character, then to the close.
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if chars.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < chars.len() && ident(chars[i]) {
                    i += 1;
                }
            }
        } else if ident(c) {
            let start = i;
            while i < chars.len() && ident(chars[i]) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            // A raw string (r"..", r#".."#, br".."): skip to its closing quote and hashes.
            let hashes = chars[i..].iter().take_while(|c| **c == '#').count();
            if matches!(word.as_str(), "r" | "br" | "cr") && chars.get(i + hashes) == Some(&'"') {
                i += hashes + 1;
                let close: String = std::iter::once('"')
                    .chain(std::iter::repeat_n('#', hashes))
                    .collect();
                let rest: String = chars[i..].iter().collect();
                let end = rest.find(&close).unwrap_or(rest.len());
                i += rest[..end].chars().count() + close.chars().count();
            } else if matches!(word.as_str(), "b" | "c") && chars.get(i) == Some(&'"') {
                // A byte or C string: the quote is read next, as a string.
            } else if !c.is_ascii_digit() {
                out.push(word);
            }
        } else if c == ':' && next == Some(':') {
            out.push("::".to_owned());
            i += 2;
        } else {
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
            i += 1;
        }
    }
    out
}

/// The paths a `use` tree names, each with the name it brings into scope (`None` for a
/// glob): `use a::{b, c::d as e, f::*}` is `a::b` as `b`, `a::c::d` as `e`, `a::f`.
fn use_tree(
    tokens: &[String],
    at: &mut usize,
    prefix: &[String],
) -> Vec<(Vec<String>, Option<String>)> {
    let mut path = prefix.to_vec();
    loop {
        match tokens.get(*at).map(String::as_str) {
            Some("{") => {
                *at += 1;
                let mut all = Vec::new();
                while tokens.get(*at).is_some_and(|t| t != "}") {
                    all.extend(use_tree(tokens, at, &path));
                    if tokens.get(*at).is_some_and(|t| t == ",") {
                        *at += 1;
                    }
                }
                *at += 1;
                return all;
            }
            Some("*") => {
                *at += 1;
                return vec![(path, None)];
            }
            Some("self") if !path.is_empty() && tokens.get(*at + 1).is_none_or(|t| t != "::") => {
                *at += 1;
                let name = path.last().cloned();
                return vec![(path, name)];
            }
            Some(word) => {
                path.push(word.to_owned());
                *at += 1;
                match tokens.get(*at).map(String::as_str) {
                    Some("::") => *at += 1,
                    Some("as") => {
                        let alias = tokens[*at + 1].clone();
                        *at += 2;
                        return vec![(path, Some(alias))];
                    }
                    _ => {
                        let name = path.last().cloned();
                        return vec![(path, name)];
                    }
                }
            }
            None => return vec![],
        }
    }
}

impl Crate {
    fn read() -> Crate {
        let sources = sources();
        let mut modules: BTreeSet<Module> = sources.iter().map(|s| s.module.clone()).collect();
        // Inline modules (`mod tests { .. }`), at the depth of the braces around them.
        let mut scopes: Vec<Vec<Module>> = Vec::new();
        for source in &sources {
            let mut scope = Vec::new();
            let mut stack: Vec<(Module, usize)> = vec![(source.module.clone(), 0)];
            let mut depth = 0;
            for (i, token) in source.tokens.iter().enumerate() {
                match token.as_str() {
                    "{" => {
                        depth += 1;
                        if i >= 2 && source.tokens[i - 2] == "mod" {
                            let mut inner = stack.last().unwrap().0.clone();
                            inner.push(source.tokens[i - 1].clone());
                            modules.insert(inner.clone());
                            stack.push((inner, depth));
                        }
                    }
                    "}" => {
                        if stack.len() > 1 && stack.last().unwrap().1 == depth {
                            stack.pop();
                        }
                        depth = depth.saturating_sub(1);
                    }
                    _ => {}
                }
                scope.push(stack.last().unwrap().0.clone());
            }
            scopes.push(scope);
        }

        let mut krate = Crate {
            modules,
            reexports: BTreeMap::new(),
            paths: Vec::new(),
        };
        for (source, scope) in sources.iter().zip(&scopes) {
            let tokens = &source.tokens;
            let mut imported: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut used = Vec::new();
            let mut named = Vec::new();
            let mut i = 0;
            while i < tokens.len() {
                let module = &scope[i];
                if tokens[i] == "use" {
                    let public = i > 0 && (tokens[i - 1] == "pub" || tokens[i - 1] == ")");
                    i += 1;
                    for (path, name) in use_tree(tokens, &mut i, &[]) {
                        let Some(path) = krate.absolute(module, &path, &BTreeMap::new()) else {
                            continue;
                        };
                        if let Some(name) = name {
                            if public {
                                krate
                                    .reexports
                                    .insert((module.clone(), name.clone()), path.clone());
                            }
                            imported.insert(name, path.clone());
                        }
                        used.push((module.clone(), path));
                    }
                    continue;
                }
                let starts_path = tokens.get(i + 1).is_some_and(|t| t == "::")
                    && (i == 0 || tokens[i - 1] != "::")
                    && tokens[i].chars().all(|c| c.is_alphanumeric() || c == '_');
                if !starts_path {
                    i += 1;
                    continue;
                }
                let mut path = vec![tokens[i].clone()];
                i += 1;
                while tokens.get(i).is_some_and(|t| t == "::")
                    && tokens
                        .get(i + 1)
                        .is_some_and(|t| t.chars().all(|c| c.is_alphanumeric() || c == '_'))
                {
                    path.push(tokens[i + 1].clone());
                    i += 2;
                }
                named.push((module.clone(), path));
            }
            for (module, path) in named {
                if let Some(path) = krate.absolute(&module, &path, &imported) {
                    krate.paths.push((module, path));
                }
            }
            krate.paths.extend(used);
        }
        krate
    }

    /// `path` as named in `module` made absolute, or `None` when it names another crate.
    fn absolute(
        &self,
        module: &Module,
        path: &[String],
        imported: &BTreeMap<String, Vec<String>>,
    ) -> Option<Vec<String>> {
        let (first, rest) = path.split_first()?;
        let mut base = match first.as_str() {
            "crate" => Vec::new(),
            "self" => module.clone(),
            "super" => module[..module.len().checked_sub(1)?].to_vec(),
            child
                if self
                    .modules
                    .contains(&[module.as_slice(), &[child.to_owned()]].concat()) =>
            {
                let mut base = module.clone();
                base.push(child.to_owned());
                base
            }
            name => imported.get(name)?.clone(),
        };
        let mut rest = rest.iter().peekable();
        while rest.peek().is_some_and(|s| *s == "super") {
            base.pop();
            rest.next();
        }
        base.extend(rest.cloned());
        Some(base)
    }

    /// The module that defines what `path` names, following re-exports.
    fn target(&self, path: &[String]) -> Module {
        let mut path = path.to_vec();
        // A bound on re-exports of re-exports, against a re-export of itself.
        for _ in 0..16 {
            let mut module = Vec::new();
            let mut followed = None;
            for (i, segment) in path.iter().enumerate() {
                let mut inner = module.clone();
                inner.push(segment.clone());
                if self.modules.contains(&inner) {
                    module = inner;
                    continue;
                }
                if let Some(to) = self.reexports.get(&(module.clone(), segment.clone())) {
                    followed = Some([to.as_slice(), &path[i + 1..]].concat());
                }
                break;
            }
            match followed {
                Some(next) if next != path => path = next,
                _ => return module,
            }
        }
        panic!("{} re-exports itself", path.join("::"));
    }

    /// For every folder (`""` for `src/` itself, `"store"`, `"store::engine"`, ...), its
    /// modules and the edges between them.
    fn graphs(&self) -> BTreeMap<String, Graph> {
        let mut graphs: BTreeMap<String, Graph> = BTreeMap::new();
        for module in &self.modules {
            for depth in 0..module.len() {
                graphs
                    .entry(module[..depth].join("::"))
                    .or_default()
                    .entry(module[depth].clone())
                    .or_default();
            }
        }
        for (from, path) in &self.paths {
            let to = self.target(path);
            let shared = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
            if shared < from.len() && shared < to.len() {
                graphs
                    .entry(from[..shared].join("::"))
                    .or_default()
                    .entry(from[shared].clone())
                    .or_default()
                    .insert(to[shared].clone());
            }
        }
        graphs
    }
}

/// Every top-level module of `src/` and the top-level modules its code names.
fn module_graph() -> Graph {
    Crate::read().graphs().remove("").unwrap()
}

/// A cycle through `from`, if there is one: the modules along it. `done` holds modules
/// already walked to the end without finding one, so no path is walked twice.
fn cycle_from(
    graph: &Graph,
    from: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|m| m == from) {
        let mut cycle = path[at..].to_vec();
        cycle.push(from.to_owned());
        return Some(cycle);
    }
    if done.contains(from) {
        return None;
    }
    path.push(from.to_owned());
    for next in graph.get(from).into_iter().flatten() {
        if let Some(cycle) = cycle_from(graph, next, path, done) {
            return Some(cycle);
        }
    }
    path.pop();
    done.insert(from.to_owned());
    None
}

/// The circles in one folder's graph, each once, written `a -> b -> a`.
fn cycles(graph: &Graph) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for module in graph.keys() {
        if let Some(mut cycle) = cycle_from(graph, module, &mut Vec::new(), &mut BTreeSet::new()) {
            // The same circle found from another of its modules reads the same.
            cycle.pop();
            let start = (0..cycle.len()).min_by_key(|i| &cycle[*i]).unwrap();
            cycle.rotate_left(start);
            cycle.push(cycle[0].clone());
            found.insert(cycle.join(" -> "));
        }
    }
    found
}

#[test]
fn no_two_modules_depend_on_each_other_through_any_path() {
    let graph = module_graph();
    assert!(graph.contains_key("routes") && graph.contains_key("store"));
    for module in graph.keys() {
        if let Some(cycle) = cycle_from(&graph, module, &mut Vec::new(), &mut BTreeSet::new()) {
            panic!(
                "the modules depend on each other in a circle: {}",
                cycle.join(" -> ")
            );
        }
    }
}

#[test]
fn no_two_modules_inside_one_folder_depend_on_each_other_through_any_path() {
    let graphs = Crate::read().graphs();
    assert!(graphs["store"].contains_key("engine") && graphs["domain"].contains_key("key"));
    let circles: Vec<String> = graphs
        .iter()
        .filter(|(folder, _)| !folder.is_empty())
        .flat_map(|(folder, graph)| {
            cycles(graph)
                .into_iter()
                .map(move |cycle| format!("in src/{}/: {cycle}", folder.replace("::", "/")))
        })
        .collect();
    assert!(
        circles.is_empty(),
        "modules depend on each other in a circle:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_graph_sees_paths_through_crate_super_use_lists_and_re_exports() {
    let graphs = Crate::read().graphs();
    let names = |folder: &str, module: &str| graphs[folder][module].clone();
    // `crate::store::...` from a route.
    assert!(names("", "routes").contains("store"));
    // `use super::sql::PgConn` in engine/pg.rs.
    assert!(names("store::engine", "pg").contains("sql"));
    // `use super::token::{Token, TokenKind}` in domain/key.rs.
    assert!(names("domain", "key").contains("token"));
    // `use super::{Conn, StoreError}` in store/events.rs: what store/mod.rs re-exports
    // from the engine.
    assert!(names("store", "events").contains("engine"));
}

#[test]
fn comments_strings_and_characters_name_no_module() {
    let code = r##"// crate::in_comment
        let x = "crate::in_string \" crate::past_a_quote"; let y = r#"crate::in_raw"#;
        /* crate::in_block */ let z = ('\'', '"'); crate::f::g(); 'label: loop {}"##;
    let tokens = tokens(code);
    for hidden in [
        "in_comment",
        "in_string",
        "past_a_quote",
        "in_raw",
        "in_block",
        "label",
    ] {
        assert!(
            !tokens.iter().any(|t| t == hidden),
            "{hidden} in {tokens:?}"
        );
    }
    assert!(
        tokens.windows(3).any(|w| w == ["crate", "::", "f"]),
        "{tokens:?}"
    );
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
