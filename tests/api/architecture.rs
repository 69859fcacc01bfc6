//! The shape docs/development.md describes, kept from sliding back: handlers are HTTP
//! only (short functions, no transaction bodies), refusals are enums rather than nested
//! results, the document takes its schemas from the types rather than overrides, the CLI
//! calls the store rather than routes, and due rounds are settled inside the store.
//! Each check reads the source, so a change that breaks one names the file and the line.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `src/` (or one of its folders), with its text.
fn sources(under: &str) -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(under);
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                files.push((path, text));
            }
        }
    }
    files.sort();
    files
}

/// The lines of `text` that are code, not comments: `(line number, line)`.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
}

/// Where `needle` occurs in the code of the files under `under`: `file:line`.
fn occurrences(under: &str, needle: &str) -> Vec<String> {
    sources(under)
        .iter()
        .flat_map(|(path, text)| {
            code_lines(text)
                .filter(|(_, line)| line.contains(needle))
                .map(|(n, _)| format!("{}:{n}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The functions of `text` with their length in lines, from `fn` to the closing brace
/// at the same indentation (rustfmt's layout).
fn functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let indent = &line[..line.len() - line.trim_start().len()];
        let mut rest = line.trim_start();
        for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "async "] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let Some(signature) = rest.strip_prefix("fn ") else {
            i += 1;
            continue;
        };
        let name: String = signature
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // A declaration without a body (in a trait) ends with `;` before any `{`.
        let Some(open) = (i..lines.len()).find(|&j| {
            let l = lines[j].trim_end();
            l.ends_with('{') || l.ends_with(';')
        }) else {
            break;
        };
        if lines[open].trim_end().ends_with(';') {
            i = open + 1;
            continue;
        }
        let closing = format!("{indent}}}");
        let end = (open..lines.len())
            .find(|&j| lines[j] == closing)
            .unwrap_or(lines.len() - 1);
        found.push((name, end - i + 1));
        i = end + 1;
    }
    found
}

#[test]
fn refusals_are_enums_not_results_nested_in_results() {
    let mut nested = occurrences("src", "Ok(Err(");
    nested.extend(occurrences("src", ".await??"));
    assert!(
        nested.len() <= 2,
        "a refusal belongs in its resource's Refusal enum, not in a Result inside a Result: \
         {nested:?}"
    );
}

#[test]
fn domain_types_carry_their_own_schemas_instead_of_overrides() {
    let overrides = occurrences("src", "value_type =");
    assert!(
        overrides.len() <= 12,
        "{} `value_type =` overrides; a field's type should carry its schema: {overrides:?}",
        overrides.len()
    );
    let document =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/openapi.rs"))
            .unwrap();
    assert!(
        document.lines().count() <= 500,
        "src/openapi.rs keeps only what is document-wide; it has {} lines",
        document.lines().count()
    );
}

#[test]
fn the_command_line_calls_the_store_not_the_routes() {
    for file in ["src/cli.rs", "src/admin.rs", "src/seed.rs"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(file)).unwrap();
        let uses: Vec<usize> = code_lines(&text)
            .filter(|(_, line)| line.contains("routes::"))
            .map(|(n, _)| n)
            .collect();
        assert!(
            uses.is_empty(),
            "{file} names a route module at lines {uses:?}"
        );
    }
}

#[test]
fn due_rounds_are_settled_inside_the_store_transactions() {
    let outside: Vec<String> = occurrences("src", "settle_due")
        .into_iter()
        .filter(|at| !at.contains("/src/store/"))
        .collect();
    assert!(
        outside.len() <= 2,
        "settle_due belongs in the transaction functions of src/store/: {outside:?}"
    );
}

#[test]
fn handlers_are_short_and_hold_no_transaction_bodies() {
    let mut lengths = Vec::new();
    let mut closures = Vec::new();
    for (path, text) in sources("src/routes") {
        for (name, length) in functions(&text) {
            lengths.push((length, format!("{}::{name}", path.display())));
        }
        // A transaction body in a handler: `db.write(move |tx| {` running past a few lines.
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let opens = [".write(move |", ".read(move |"]
                .iter()
                .any(|call| line.contains(call))
                && line.trim_end().ends_with('{');
            if !opens {
                continue;
            }
            let indent = line.len() - line.trim_start().len();
            let body = lines[i + 1..]
                .iter()
                .take_while(|l| l.trim().is_empty() || l.len() - l.trim_start().len() > indent)
                .count();
            if body > 6 {
                closures.push(format!("{}:{} ({body} lines)", path.display(), i + 1));
            }
        }
    }
    assert!(
        closures.is_empty(),
        "a transaction of more than a few lines is a named function in src/store/: \
         {closures:?}"
    );
    lengths.sort();
    assert!(lengths.len() > 100, "the route files' functions were found");
    let longest = lengths.last().unwrap();
    assert!(
        longest.0 <= 150,
        "no route-file function over 150 lines: {longest:?}"
    );
    let p90 = &lengths[lengths.len() * 9 / 10];
    assert!(
        p90.0 <= 60,
        "the 90th percentile of route-file function length is {} lines (at most 60)",
        p90.0
    );
}

#[test]
fn the_function_reader_measures_what_it_is_given() {
    let text = "pub async fn short() {\n    one();\n}\n\nfn decl();\n\n    pub(crate) fn inner(\n        a: u8,\n    ) -> u8 {\n        a\n    }\n";
    assert_eq!(
        functions(text),
        [("short".to_owned(), 3), ("inner".to_owned(), 5)]
    );
}
